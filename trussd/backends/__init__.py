"""trussd.backends"""
