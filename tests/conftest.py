"""Every test's fixtures live in tests/support/; these are the ones every folder gets.

A folder whose tests need another world (the API's, the authorisation server's, a year of casework) binds that
world's fixtures in its own conftest.py, overriding these names for its tests only.
"""

import os

# `gateway serve` runs the notification dispatcher beside the app by default. Tests that build or start an app are
# about something else and count its statements, audit rows or timings, so the dispatcher is off unless a test
# turns it on (tests/notifications/test_webhook_delivery.py does); subprocesses inherit this.
os.environ.setdefault("GATEWAY_DISPATCH_IN_SERVE", "false")
# Likewise the audit sealer: tests that need rows sealed on PostgreSQL run a pass themselves
# (gateway.audit.sealer.seal_until_done); tests/audit/test_sealing.py runs it in serve.
os.environ.setdefault("GATEWAY_SEAL_AUDIT_IN_SERVE", "false")

pytest_plugins = ("tests.support.databases", "tests.support.domain")
