"""The dataset folder in the layout the Hub serves: its files and integrity checks (`folder`), the
typed manifest (`manifest`), parquet shards with content hashes (`shards`), the train/validation
split of an id (`splits`), the atomic replacement of a folder (`staging`) and the card (`cards`).
"""
