"""Victims: identity, contact and safe-contact details, held apart from case data."""
