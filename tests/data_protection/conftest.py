"""A settable clock and the demo organisations, so years of casework happen through the real services."""

from tests.support.casework import clock, world

__all__ = ["clock", "world"]
