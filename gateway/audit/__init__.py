"""The DPA 2018 s.62 log: append-only, hash-chained rows naming subjects by id only."""
