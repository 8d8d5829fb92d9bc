"""The Hugging Face Hub: publishing a dataset folder (`publish`)."""
