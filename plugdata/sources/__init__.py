"""Reading instruction corpora: where a corpus is and which column plays which role (`corpus`),
its rows as `Record`s (`read`), and the join of a target-language corpus to the pivot corpus
(`align`). The demo corpora shipped with plugdata are in `corpora/`.
"""
