"""The data-protection officer's tools: the retention schedule and erasure, legal holds, subject access,
rectification and the audit trail."""
