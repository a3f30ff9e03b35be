"""The RJ mutations' resolvers, one module per family (facilitators, cases, parties, conferences), and what they
share in common.py. gateway/restorative_justice/schema.py assembles them, with the queries, into the domain's roots.
"""
