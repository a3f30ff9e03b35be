"""Shared test fixtures and builders: databases, the demo world, the API and authorisation-server worlds, casework."""
