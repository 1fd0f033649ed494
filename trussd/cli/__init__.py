"""trussd.cli"""
