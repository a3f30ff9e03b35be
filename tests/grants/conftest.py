"""A settable clock and the demo organisations, so a year of casework happens through the real services."""

from tests.support.casework import clock, world

__all__ = ["clock", "world"]
