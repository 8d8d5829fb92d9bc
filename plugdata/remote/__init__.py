"""Remote services, written once for every client (translation backends, the judge, the Hub):
the calls themselves with their client, prices, cost budget and retry loop (`calls`), what a
failure means and how long to wait (`retrying`), and telling a Hub id from a local path for the
arguments that may be either (`locations`).
"""
