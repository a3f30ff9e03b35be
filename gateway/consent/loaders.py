"""Per-request dataloaders for consent: each victim's consents, read in one batch."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from gateway.consent.models import Consent
from gateway.consent.service import load_consents_for_victims
from gateway.graphql.loaders import RequestLoaders


class ConsentLoaders(RequestLoaders):
    """Consents by victim id, as the caller may see them."""

    @property
    def victim_consents(self) -> DataLoader[int, list[Consent]]:
        return self._get("victim_consents", load_consents_for_victims, "victim_ids", [])
