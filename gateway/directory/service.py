"""The public directory of commissioned providers, read from the reviewed profiles."""

from __future__ import annotations

from providers.profile import ProviderProfile
from providers.registry import all_profiles


def list_provider_profiles() -> list[ProviderProfile]:
    """Every commissioned provider's profile, ordered by slug; public information only."""
    return list(all_profiles().values())
