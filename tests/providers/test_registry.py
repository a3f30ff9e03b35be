"""The provider registry: every profile valid, and a new provider is one module and nothing else."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import providers
from providers import registry
from providers.profile import CrimeCategory, ProfileError, VictimField

EXPECTED_SLUGS = ["cpn", "family-action", "rape-crisis", "rj-hub", "road-victims-trust"]


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registry.all_profiles.cache_clear()
    modules_before = set(sys.modules)
    yield
    monkeypatch.undo()
    for added in set(sys.modules) - modules_before:
        del sys.modules[added]
    registry.all_profiles.cache_clear()


def test_the_five_commissioned_providers_are_registered_and_valid() -> None:
    profiles = registry.all_profiles()

    assert list(profiles) == EXPECTED_SLUGS
    for profile in profiles.values():
        assert profile.problems() == []
        assert all(isinstance(f, VictimField) for f in profile.victim_fields)
        assert all(isinstance(c, CrimeCategory) for c in profile.eligibility.crime_categories)


def test_road_victims_trust_takes_only_road_collisions_and_young_services_take_under_18s() -> None:
    profiles = registry.all_profiles()

    assert profiles["road-victims-trust"].eligibility.crime_categories == {CrimeCategory.ROAD_COLLISION}
    assert profiles["family-action"].eligibility.max_age == 17
    assert profiles["rape-crisis"].eligibility.crime_categories == {CrimeCategory.SEXUAL_OFFENCE}


def _write_provider(directory: Path, module: str, body: str) -> None:
    (directory / f"{module}.py").write_text(textwrap.dedent(body))


SHRIEVALTY = """
    from providers.profile import Eligibility, ProviderProfile, VictimField

    PROFILE = ProviderProfile(
        slug="shrievalty-trust",
        display_name="Home Security for Elderly Victims",
        operating_organisation="Cambridgeshire Shrievalty Trust",
        services=("Home security checks and fittings",),
        eligibility=Eligibility(area="Cambridgeshire", summary="Victims aged 65 and over.", min_age=65),
        first_contact_target_hours=72,
        victim_fields=frozenset({VictimField.NAME, VictimField.ADDRESS, VictimField.PHONE}),
    )
"""


def test_a_sixth_provider_is_one_new_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    _write_provider(tmp_path, "shrievalty_trust", SHRIEVALTY)
    monkeypatch.setattr(providers, "__path__", [*providers.__path__, str(tmp_path)])

    profiles = registry.all_profiles()

    assert list(profiles) == sorted([*EXPECTED_SLUGS, "shrievalty-trust"])
    assert profiles["shrievalty-trust"].eligibility.min_age == 65


@pytest.mark.parametrize(
    ("replacement", "fault"),
    [
        ('slug="shrievalty-trust"', 'slug="cpn"'),
        ("VictimField.PHONE}", '"shoe-size"}'),
        ("min_age=65)", 'min_age=65, crime_categories=frozenset({"jaywalking"}))'),
    ],
    ids=["repeated-slug", "unknown-field", "unknown-crime-category"],
)
def test_a_broken_profile_is_refused_with_its_fault_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None, replacement: str, fault: str
) -> None:
    _write_provider(tmp_path, "broken_provider", SHRIEVALTY.replace(replacement, fault))
    monkeypatch.setattr(providers, "__path__", [*providers.__path__, str(tmp_path)])

    with pytest.raises(ProfileError) as refused:
        registry.all_profiles()

    message = str(refused.value)
    assert ("cpn" in message and "more than one" in message) or "unknown" in message
    assert ("shoe-size" in message) == ("shoe-size" in fault)
    assert ("jaywalking" in message) == ("jaywalking" in fault)
