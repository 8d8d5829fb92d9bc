"""Train, generate and judge (added by later work); imports torch lazily."""
