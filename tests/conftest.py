"""Shared fixtures and the order of the tests: quick ones first, then the chapters, then what needs their artefacts."""
from datetime import datetime
import os
import signal
import pytest
from speedrun.kit.settings import read_settings
from speedrun.kit.settings_table import SETTINGS
from speedrun.spam.features1 import Features1
from speedrun.spam.models import RandomForestModel
from speedrun.spam.training import save_model_metadata


# The chapters build the models and feature stores that `make run`, the originals' commands and the fuzzing, fault and load tests serve,
# so these come after them. (The JupyterLab test runs chapters 00 and 04, which need nothing another chapter builds, and the signal
# tests of `make run` serve the home page and the web client, which need no model: independent tests, on the independent group's
# workbook, ports and Pub/Sub project, beside the chapters.)
RUN_LAST = {'test_chapters.py': 1, 'test_book.py': 2, 'test_originals.py': 5, 'test_fuzz.py': 6, 'test_faults.py': 7, 'test_load.py': 8}


# `make test` runs the suite as two groups side by side, one per core (ci/test.sh): the chapters and what needs them, in the order
# above, and the independent tests, which need nothing the chapters build. The independent group gets a workbook of its own on
# the same Cassandra node and emulator: its own build folder, keyspace, Pub/Sub project and ports, so neither sees the other.
GROUPS = ('chapters', 'independent')
INDEPENDENT_PORT_OFFSET = 1000


def independent_environment(settings):
    "The variables that give the independent group its own workbook: build folder, keyspace, Pub/Sub project, every service port moved up."
    ports = {s.variable: str(int(getattr(settings, s.field)) + INDEPENDENT_PORT_OFFSET) for s in SETTINGS
             if s.kind == 'integer' and s.variable.endswith('_PORT') and s.field and not s.field.startswith('cassandra')}
    return {'SPEEDRUN_BUILD_DIR': str(settings.build_dir/'independent'), 'SPEEDRUN_CASSANDRA_KEYSPACE': f'{settings.cassandra_keyspace}_independent',
            'PUBSUB_PROJECT_ID': f'{settings.pubsub_project_id}-independent', **ports}


def pytest_addoption(parser):
    parser.addoption('--group', choices=GROUPS, help='only the chapters and the tests that need what they build, or only the others '
                     '(these on a workbook of their own); both by default, in one process')


def stop_on_sigterm(session):
    """SIGTERM as Ctrl-C, for a group run in the background (ci/test.sh ends one so): the session stops after the test in hand,
    which is interrupted, and the fixtures tear down what the tests started. (A notebook cell's shell catches KeyboardInterrupt
    as a cell's error, so the interrupt alone would let the session go on.)"""
    def interrupt(signal_number, frame):
        session.shouldstop = f'stopped by signal {signal_number}'
        raise KeyboardInterrupt(session.shouldstop)
    signal.signal(signal.SIGTERM, interrupt)


def pytest_configure(config):
    config.chapters_executed_dir = read_settings().executed_dir  # before the independent group moves to a workbook of its own
    if config.getoption('group') == 'independent': os.environ.update(independent_environment(read_settings()))


@pytest.fixture(scope='session')
def chapters_executed_dir(request):
    "Where the chapters' executed copies go for the book (`make book`), in either group: the chapters group's workbook's."
    return request.config.chapters_executed_dir


def pytest_sessionstart(session):
    if session.config.getoption('group'): stop_on_sigterm(session)


def pytest_collection_modifyitems(config, items):
    "Run the chapter notebooks after the quick tests, in reading order, then the tests that need what they built (sorting is stable)."
    items.sort(key=lambda item: RUN_LAST.get(item.path.name, 0))
    group = config.getoption('group')
    if group:
        kept, deselected = [], []
        for item in items: (kept if (item.path.name in RUN_LAST) == (group == 'chapters') else deselected).append(item)
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope='session')
def settings():
    return read_settings()


TINY_TEXTS = ['hello there friend', 'see you at lunch', 'are we still on for the climbing gym on Saturday', 'running ten minutes late, sorry',
              'Dear winner, call now for your FREE prize', 'FREE CASH, CALL NOW!!', 'WIN a FREE delivery, call 800-884433', 'You WON cash, claim now']


@pytest.fixture(scope='session')
def save_tiny_model():
    "A function that saves a small forest v1 (trained on a handful of texts) into a settings' build folder, enough to serve."
    def save(settings):
        model = RandomForestModel.train('v1', Features1().texts_to_features(TINY_TEXTS * 5), (['ham'] * 4 + ['spam'] * 4) * 5, trees=5)
        save_model_metadata('v1', 'labeled_sms_1', datetime(2019, 5, 5), {}, settings, model_class='RandomForestModel')
        model.save(settings)
    return save


@pytest.fixture(scope='session')
def save_small_ride_model():
    "A function that saves a small ride model (five trees, 2,000 January trips) into a settings' build folder, enough to serve."
    def save(settings):
        from speedrun.rides.model import save_ride_model
        from speedrun.rides.training import read_trips, ride_duration_pipelines, trip_features
        trips = read_trips(settings.data_dir/'green_tripdata_2021-01.parquet').head(2000)
        save_ride_model(ride_duration_pipelines(trees=5)['forest'].fit(trip_features(trips), trips.duration), 'forest', {}, settings)
    return save
