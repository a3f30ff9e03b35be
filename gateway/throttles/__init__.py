"""Request counters held in the database, shared by every worker, and the proof of work asked for beyond them."""
