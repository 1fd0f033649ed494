"""trussd.deploy"""
