"""The facts every stage shares, each written once: the language table (`languages`), the method
table (`formats`), the row types and their Arrow schemas (`schema`), text surgery (`textproc`),
JSON and JSON Lines files (`jsonl`), safe YAML (`safe_yaml`), secrets and local paths kept out of
outputs (`redact`), options declared on models (`options`), SQLite caches (`store`), settings read
from the environment (`env`), and digests of rows and files (`digests`). Nothing here imports
another group of plugdata.
"""
