"""Shared fixtures; the chapters run last, after the faster module and service tests."""
import pytest
from speedrun.config import read_settings


def pytest_collection_modifyitems(items):
    "Run the chapter notebooks after everything else, in reading order (sorting is stable)."
    items.sort(key=lambda item: item.path.name == 'test_chapters.py')


@pytest.fixture(scope='session')
def settings():
    return read_settings()
