"""Per-request dataloaders for victims: the Hub's records of them, read in one audited batch."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from gateway.graphql.loaders import RequestLoaders
from gateway.victims.models import Victim
from gateway.victims.service import load_victims


class VictimLoaders(RequestLoaders):
    """Victims by id, as the caller may see them."""

    @property
    def victims(self) -> DataLoader[int, Victim | None]:
        return self._get("victims", load_victims, "victim_ids", None)
