"""What plugdata checks about a row: language identification behind one interface (`detect`),
every content check of a triple (`validate`), and `plugdata detect` over a file (`detect_file`).
"""
