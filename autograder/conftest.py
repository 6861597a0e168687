"""The autograder's pytest set-up: the whiteboard plugin gives `--submission`, markers and `nb`."""
from whiteboard.plugin import (  # noqa: F401 - pytest finds hooks and fixtures by name here
    nb,
    pytest_addoption,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
