"""Outcome records: what a completed piece of support achieved, on the Ministry of Justice measures."""
