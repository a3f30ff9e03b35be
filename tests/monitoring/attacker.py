"""An analyst with a spreadsheet: every linear combination of the published figures, solved exactly.

Independent of the production audit (which decides with numpy's SVD): here the published sums are reduced
to row echelon form over exact fractions, and a hidden figure is recovered exactly when some combination of
the equations leaves it alone, that is when a row of the reduced system is the unit vector of that figure.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def recover(
    equations: Iterable[Mapping[K, int]], published: Mapping[K, int], unknown: Iterable[K]
) -> dict[K, Fraction]:
    """Each equation's coefficients times the figures' values add up to zero."""
    """Every unknown figure the published figures and the equations fix, with its value."""
    unknowns = set(unknown)
    rows: list[tuple[dict[K, Fraction], Fraction]] = []
    for equation in equations:
        row: dict[K, Fraction] = {}
        constant = Fraction(0)
        for figure, coefficient in equation.items():
            if coefficient == 0:
                continue
            if figure in unknowns:
                row[figure] = row.get(figure, Fraction(0)) + coefficient
            else:
                # A figure neither published nor unknown would be a mistake in the test, not a secret.
                constant -= coefficient * published[figure]
        row = {f: c for f, c in row.items() if c != 0}
        if row:
            rows.append((row, constant))
    # Sparse Gauss-Jordan elimination: each pivot row is divided to 1 and cleared from every other row.
    pivots: dict[K, tuple[dict[K, Fraction], Fraction]] = {}
    for original, original_constant in rows:
        row, constant = dict(original), original_constant
        # Pivot rows are kept reduced against each other, so clearing one never brings another back.
        while any(f in pivots for f in row):
            figure = next(f for f in row if f in pivots)
            factor = row[figure]
            pivot_row, pivot_constant = pivots[figure]
            for f, c in pivot_row.items():
                value = row.get(f, Fraction(0)) - factor * c
                if value:
                    row[f] = value
                else:
                    row.pop(f, None)
            constant -= factor * pivot_constant
        if not row:
            continue
        lead = min(row, key=repr)
        scale = row[lead]
        row = {f: c / scale for f, c in row.items()}
        constant = constant / scale
        for other, (other_row, other_constant) in list(pivots.items()):
            if lead in other_row:
                factor = other_row[lead]
                updated = dict(other_row)
                for f, c in row.items():
                    value = updated.get(f, Fraction(0)) - factor * c
                    if value:
                        updated[f] = value
                    else:
                        updated.pop(f, None)
                pivots[other] = (updated, other_constant - factor * constant)
        pivots[lead] = (row, constant)
    return {figure: constant for figure, (row, constant) in pivots.items() if len(row) == 1}
