"""jobs/drill"""
