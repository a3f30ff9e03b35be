"""Small-number suppression over a table of counts and the sums that tie its cells together.

Primary suppression hides every count from 1 to the threshold. Secondary suppression then makes sure no
hidden count can be worked back from what is shown: every published sum (a total and its parts) must hide
either none of its members or at least two, so a lone hidden cell is joined by the smallest other non-zero
member. A zero is never the companion: a hidden cell plus a hidden zero would still give the cell away.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# Counts from 1 to this many are never published. A setting could make it configurable per deployment;
# until then every caller of the monitoring service may pass its own, and the GraphQL API uses this one.
DEFAULT_THRESHOLD = 4


@dataclass(frozen=True, slots=True)
class Sum(Generic[K]):
    """A published relation: the total equals the sum of the parts."""

    total: K
    parts: tuple[K, ...]

    @property
    def members(self) -> tuple[K, ...]:
        return (self.total, *self.parts)


def primary(cells: Mapping[K, int], *, threshold: int) -> set[K]:
    """Every cell whose count is from 1 to the threshold."""
    return {key for key, value in cells.items() if 1 <= value <= threshold}


def secondary(
    cells: Mapping[K, int],
    sums: Sequence[Sum[K]],
    suppressed: Iterable[K],
    *,
    frozen: Iterable[K] = (),
) -> set[K]:
    """Widen `suppressed` until no sum hides exactly one member; cells in `frozen` are never added.

    Freezing lets an earlier pass stay exactly as it was published (a quarter's figures must not change
    because a longer range was asked for): a lone hidden member then forces a companion outside the frozen set.
    """
    hidden = set(suppressed)
    fixed = set(frozen)
    changed = True
    while changed:
        changed = False
        for relation in sums:
            members = [m for m in relation.members if m in cells]
            if sum(1 for m in members if m in hidden) != 1:
                continue
            candidates = [m for m in members if m not in hidden and m not in fixed and cells[m] > 0]
            if not candidates:
                continue
            hidden.add(min(candidates, key=lambda m: (cells[m], m == relation.total)))
            changed = True
    return hidden


def lone_hidden_members(cells: Mapping[K, int], sums: Sequence[Sum[K]], suppressed: set[K]) -> list[Sum[K]]:
    """The sums that still hide exactly one non-zero member: empty when suppression holds (for tests and checks)."""
    return [
        relation
        for relation in sums
        if sum(1 for m in relation.members if m in suppressed and cells.get(m, 0) > 0) == 1
    ]
