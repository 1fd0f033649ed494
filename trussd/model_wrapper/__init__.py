"""trussd.model_wrapper"""
