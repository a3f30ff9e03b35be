"""Every test's fixtures live in tests/support/; these are the ones every folder gets.

A folder whose tests need another world (the API's, the authorisation server's, a year of casework) binds that
world's fixtures in its own conftest.py, overriding these names for its tests only.
"""

pytest_plugins = ("tests.support.databases", "tests.support.domain")
