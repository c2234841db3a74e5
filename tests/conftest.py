"""Shared fixtures and the order of the tests: quick ones first, then the chapters, then what needs their artefacts."""
import pytest
from speedrun.config import read_settings


# The chapters build the models and feature stores that the fuzzing, fault and load tests serve, so these come after them.
RUN_LAST = {'test_chapters.py': 1, 'test_fuzz.py': 2, 'test_faults.py': 3, 'test_load.py': 4}


def pytest_collection_modifyitems(items):
    "Run the chapter notebooks after the quick tests, in reading order, then the tests that need what they built (sorting is stable)."
    items.sort(key=lambda item: RUN_LAST.get(item.path.name, 0))


@pytest.fixture(scope='session')
def settings():
    return read_settings()
