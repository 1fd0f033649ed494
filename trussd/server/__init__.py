"""trussd.server"""
