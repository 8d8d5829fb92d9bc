"""The one pipeline every command runs: source rows -> (align | translate) -> triples -> checks ->
formats -> splits -> a sink (a dataset folder, or JSON Lines for `plugdata translate`).
"""
