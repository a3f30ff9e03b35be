"""Consent to share: a record with who, how, whom it covers, what it covers, and its withdrawal."""
