# The fixtures several test modules share live with the other shared helpers.
pytest_plugins = ["tests.support.fixtures"]
