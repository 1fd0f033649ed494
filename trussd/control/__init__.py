"""trussd.control"""
