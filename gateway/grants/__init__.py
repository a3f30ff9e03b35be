"""Grants: what the Commissioner pays each provider, for which years, against which targets."""
