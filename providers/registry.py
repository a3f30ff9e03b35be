"""Finds every provider profile in this package, so adding a provider is adding one module."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

import providers
from providers.profile import ProfileError, ProviderProfile

# Modules in this package that define the contract rather than a provider.
NOT_PROVIDER_MODULES = frozenset({"profile", "registry"})


def _discover() -> list[ProviderProfile]:
    profiles = []
    for module_info in pkgutil.iter_modules(providers.__path__):
        if module_info.name in NOT_PROVIDER_MODULES or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"providers.{module_info.name}")
        profile = getattr(module, "PROFILE", None)
        if not isinstance(profile, ProviderProfile):
            raise ProfileError(f"providers.{module_info.name} must define PROFILE as a ProviderProfile")
        profiles.append(profile)
    return profiles


def validate(profiles: list[ProviderProfile]) -> None:
    """Raise ProfileError naming every broken profile and every repeated slug."""
    faults = [f"{p.slug}: {problem}" for p in profiles for problem in p.problems()]
    slugs = [p.slug for p in profiles]
    faults += [
        f"slug {slug!r} is used by more than one profile" for slug in sorted({s for s in slugs if slugs.count(s) > 1})
    ]
    if faults:
        raise ProfileError("; ".join(faults))


@cache
def all_profiles() -> Mapping[str, ProviderProfile]:
    """Every provider profile by slug, validated once and sorted by slug."""
    profiles = sorted(_discover(), key=lambda p: p.slug)
    validate(profiles)
    return MappingProxyType({p.slug: p for p in profiles})


def get_profile(slug: str) -> ProviderProfile | None:
    return all_profiles().get(slug)
