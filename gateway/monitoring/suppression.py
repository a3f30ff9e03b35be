"""Small-number suppression over a table of counts and the sums that tie its cells together.

Primary suppression hides every count from 1 to the threshold. Secondary suppression then makes sure no
hidden count can be worked out from what is shown, by any linear combination of the published sums: the
published figures and the sums form a system of linear equations in the hidden cells, and a hidden cell x is
exposed exactly when the unit vector e_x lies in the row space of that system restricted to the hidden cells
(equivalently: every solution of the homogeneous system leaves x at zero, so the published figures fix x).
While any hidden cell is exposed, one more published cell from an equation that exposes it is hidden, the
smallest non-zero one first, and the audit runs again.

"Hide at least two members of every sum" was the rule before: it is not enough. In a table with totals both
ways, two hidden cells in one row that are also the only hidden cells of their columns cancel, and the other
cells give them away (issue 18).

The passes decide with Gauss-Jordan elimination in numpy float64 (partial pivoting, one connected group of hidden
cells at a time, "below 1e-9 is zero"), and the answer they settle on is then confirmed once by the same
elimination over exact fractions; if the exact one finds a fixed cell the floating point missed, the audit hides
more and goes on, so the result never rests on a rounding. Not numpy.linalg.matrix_rank for the passes: its SVD
goes through LAPACK, whose threads made one 50x95 decomposition take 12 ms on a busy two-core machine (0.8 ms on
one thread), against well under 1 ms for the elimination here; the exact check costs about as much as one pass.
The tests check every answer again with an independent exact reader, as an analyst with a spreadsheet would.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)

# Counts from 1 to this many are never published. A setting could make it configurable per deployment;
# until then every caller of the monitoring service may pass its own, and the GraphQL API uses this one.
DEFAULT_THRESHOLD = 4
# Smaller than this is zero for the fast passes; the exact check at the end does not depend on it.
_ZERO = 1e-9


class SuppressionFailed(RuntimeError):
    """No published cell is left to hide, yet a hidden one is still exposed: never expected, never ignored."""


@dataclass(frozen=True, slots=True)
class Sum(Generic[K]):
    """A published relation: the total equals the sum of the parts."""

    total: K
    parts: tuple[K, ...]

    @property
    def members(self) -> tuple[K, ...]:
        return (self.total, *self.parts)

    def coefficients(self) -> dict[K, int]:
        """The relation as total - parts = 0 (a cell listed twice adds up)."""
        found: dict[K, int] = {self.total: 1}
        for part in self.parts:
            found[part] = found.get(part, 0) - 1
        return {cell: c for cell, c in found.items() if c != 0}


def primary(cells: Mapping[K, int], *, threshold: int) -> set[K]:
    """Every cell whose count is from 1 to the threshold."""
    return {key for key, value in cells.items() if 1 <= value <= threshold}


Relation = tuple[int, dict[K, int]]  # a sum's index and its coefficients


@dataclass(frozen=True, slots=True)
class _Group(Generic[K]):
    """Hidden cells joined by the equations they share."""

    variables: list[K]
    relations: list[Relation[K]]

    @property
    def equations(self) -> list[int]:
        return [index for index, _ in self.relations]

    def matrix(self) -> np.ndarray:
        """The equations restricted to the group's cells: one row per equation, one column per cell."""
        column = {cell: position for position, cell in enumerate(self.variables)}
        matrix = np.zeros((len(self.relations), len(self.variables)))
        for row, (_, coefficients) in enumerate(self.relations):
            for cell, c in coefficients.items():
                if cell in column:
                    matrix[row, column[cell]] = c
        return matrix


def _groups(relations: Sequence[Relation[K]], unknown: set[K]) -> list[_Group[K]]:
    # Hidden cells that share no equation cannot be combined, so each connected group is decided on its own:
    # many small decompositions instead of one large one.
    parent: dict[K, K] = {}

    def root(cell: K) -> K:
        while parent.setdefault(cell, cell) != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    relevant: list[tuple[K, Relation[K]]] = []
    for relation in relations:
        hidden = [cell for cell in relation[1] if cell in unknown]
        if not hidden:
            continue
        relevant.append((hidden[0], relation))
        first = root(hidden[0])
        for other in hidden[1:]:
            parent[root(other)] = first
    groups: dict[K, _Group[K]] = {}
    for cell in parent:
        groups.setdefault(root(cell), _Group([], [])).variables.append(cell)
    for cell, relation in relevant:
        groups[root(cell)].relations.append(relation)
    return list(groups.values())


def _relations(sums: Sequence[Sum[K]]) -> list[Relation[K]]:
    return [(index, s.coefficients()) for index, s in enumerate(sums)]


def _fixed_columns(matrix: np.ndarray) -> dict[int, list[int]]:
    """The columns the equations fix, each with the equations a combination fixing it uses.

    Gauss-Jordan elimination with partial pivoting on [A | I]: a pivot row whose entries are zero outside its
    pivot column says that column's cell is fixed, and its identity part is the combination of equations that
    does it. Only elementwise numpy operations: no LAPACK call, whose threads cost more than the work here.
    """
    rows, columns = matrix.shape
    work = np.hstack([matrix, np.eye(rows)])
    pivots: list[int] = []
    for column in range(columns):
        top = len(pivots)
        if top == rows:
            break
        below = np.abs(work[top:, column])
        best = int(below.argmax())
        if below[best] <= _ZERO:
            continue
        if best:
            work[[top, top + best]] = work[[top + best, top]]
        work[top] /= work[top, column]
        factors = work[:, column].copy()
        factors[top] = 0.0
        work -= np.outer(factors, work[top])
        pivots.append(column)
    fixed: dict[int, list[int]] = {}
    for row, column in enumerate(pivots):
        others = np.abs(work[row, :columns])
        others[column] = 0.0
        if others.max(initial=0.0) <= _ZERO:
            fixed[column] = [e for e in range(rows) if abs(work[row, columns + e]) > _ZERO]
    return fixed


def _exactly_fixed(relations: Sequence[Relation[K]], unknown: set[K]) -> set[K]:
    """The unknown cells the relations fix, by sparse Gauss-Jordan elimination over exact fractions.

    The check behind the fast one: a cell is fixed when a fully reduced row holds it alone. It takes about as
    long as one fast pass (milliseconds a quarter), so it runs once, on the answer the fast passes settle on.
    """
    pivots: dict[K, dict[K, Fraction]] = {}
    for _, coefficients in relations:
        row = {cell: Fraction(c) for cell, c in coefficients.items() if cell in unknown}
        for cell in [c for c in row if c in pivots]:
            factor = row.get(cell)
            if not factor:
                continue
            for other, value in pivots[cell].items():
                updated = row.get(other, Fraction(0)) - factor * value
                if updated:
                    row[other] = updated
                else:
                    row.pop(other, None)
        if not row:
            continue
        lead = next(iter(row))
        scale = row[lead]
        row = {cell: value / scale for cell, value in row.items()}
        for pivot_row in pivots.values():
            factor = pivot_row.get(lead)
            if factor:
                for other, value in row.items():
                    updated = pivot_row.get(other, Fraction(0)) - factor * value
                    if updated:
                        pivot_row[other] = updated
                    else:
                        pivot_row.pop(other, None)
        pivots[lead] = row
    return {cell for cell, row in pivots.items() if len(row) == 1}


def exposed(sums: Sequence[Sum[K]], hidden: Iterable[K], *, unpublished: Iterable[K] = ()) -> set[K]:
    """The hidden cells whose values the published cells and the sums fix: none, when suppression holds."""
    hidden_set = set(hidden)
    found: set[K] = set()
    for group in _groups(_relations(sums), hidden_set | set(unpublished)):
        found |= {group.variables[c] for c in _fixed_columns(group.matrix())} & hidden_set
    return found


def protect(
    cells: Mapping[K, int],
    sums: Sequence[Sum[K]],
    hidden: Iterable[K],
    *,
    unpublished: Iterable[K] = (),
    order: Callable[[K], object] = repr,
) -> set[K]:
    """Widen `hidden` until no hidden cell can be worked out from the published cells and the sums.

    `unpublished` cells are never shown (derived complements): they are unknowns to the reader but need no
    protection unless they are also in `hidden`. `order` breaks ties between equally small candidates, so
    the same figures always hide the same cells.
    """
    hidden_set = set(hidden) & set(cells)
    never_shown = set(unpublished) & set(cells)
    totals = {s.total for s in sums}
    # A group's answer depends only on which cells it holds, and most groups are untouched by a pass.
    decided: dict[frozenset[K], dict[K, list[int]]] = {}
    relations = _relations(sums)
    # Each pass hides at least one more cell, so this ends within as many passes as there are cells.
    for _ in range(len(cells) + 1):
        unknown = hidden_set | never_shown
        additions: set[K] = set()
        for group in _groups(relations, unknown):
            signature = frozenset(group.variables)
            if signature not in decided:
                decided[signature] = {
                    group.variables[c]: [group.equations[e] for e in combination]
                    for c, combination in _fixed_columns(group.matrix()).items()
                }
            victims = sorted((cell for cell in decided[signature] if cell in hidden_set), key=order)  # type: ignore[arg-type]
            if not victims:
                continue
            victim = victims[0]
            candidates = {
                member
                for index in decided[signature][victim]
                for member in sums[index].members
                if member in cells and member not in unknown
            }
            if not candidates:
                candidates = {
                    member
                    for index in group.equations
                    for member in sums[index].members
                    if member in cells and member not in unknown
                }
            if not candidates:
                raise SuppressionFailed("A hidden count is fixed by the sums and nothing is left to hide.")
            # The smallest non-zero cell costs the reader least; a zero only when nothing else is left, and
            # a part before a total, so the totals people read first stay visible.
            additions.add(min(candidates, key=lambda m: (cells[m] == 0, cells[m], m in totals, order(m))))
        if not additions:
            # The fast decisions say nothing is exposed: confirm exactly, and if a cell is fixed after all
            # (a coefficient the floating point took for zero), hide a neighbour of it and carry on.
            missed = sorted(_exactly_fixed(relations, unknown) & hidden_set, key=order)  # type: ignore[arg-type]
            if not missed:
                return hidden_set
            candidates = {
                member
                for _, coefficients in relations
                if missed[0] in coefficients
                for member in coefficients
                if member in cells and member not in unknown
            }
            if not candidates:
                raise SuppressionFailed("A hidden count is fixed by the sums and nothing is left to hide.")
            additions.add(min(candidates, key=lambda m: (cells[m] == 0, cells[m], m in totals, order(m))))
        hidden_set |= additions
    raise SuppressionFailed("Secondary suppression did not settle.")
