"""The Hugging Face Hub: publishing a dataset folder (`publish`), and telling a Hub id from a local
path for the arguments that may be either (`locations`).
"""
