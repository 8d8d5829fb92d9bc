"""Machine translation of instruction corpora into PLUG triples (see `engine`)."""
