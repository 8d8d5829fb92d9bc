"""Remote services, written once for every client (translation backends, the judge, the Hub):
the calls themselves with their client, prices, cost budget and retry loop (`calls`), and what a
failure means and how long to wait (`retrying`).
"""
