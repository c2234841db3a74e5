"""Shared fixtures and the order of the tests: quick ones first, then the chapters, then what needs their artefacts."""
from datetime import datetime
import pytest
from speedrun.config import read_settings
from speedrun.features1 import Features1
from speedrun.models import RandomForestModel
from speedrun.training import save_model_metadata


# The chapters build the models and feature stores that the fuzzing, fault and load tests serve, so these come after them.
RUN_LAST = {'test_chapters.py': 1, 'test_fuzz.py': 2, 'test_faults.py': 3, 'test_load.py': 4}


def pytest_collection_modifyitems(items):
    "Run the chapter notebooks after the quick tests, in reading order, then the tests that need what they built (sorting is stable)."
    items.sort(key=lambda item: RUN_LAST.get(item.path.name, 0))


@pytest.fixture(scope='session')
def settings():
    return read_settings()


@pytest.fixture
def save_tiny_model():
    "A function that saves a small forest v1 (trained on a handful of texts) into a settings' build folder, enough to serve."
    def save(settings):
        texts = ['hello there friend', 'see you at lunch', 'Dear winner, call now for your FREE prize', 'FREE CASH, CALL NOW!!'] * 5
        model = RandomForestModel.train('v1', Features1().texts_to_features(texts), ['ham', 'ham', 'spam', 'spam'] * 5, trees=5)
        save_model_metadata('v1', 'labeled_sms_1', datetime(2019, 5, 5), {}, settings, model_class='RandomForestModel')
        model.save(settings)
    return save
