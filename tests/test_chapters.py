"""Every chapter end to end through papermill, in reading order, with quick parameters.

A failure names the chapter and the failing cell; executed copies are kept in build/executed/.
Chapters listed in BACKENDS run once per online-store backend, against the real Cassandra node too.
"""
import json
import pytest
from speedrun.tools.chapters import list_chapters, run_chapter

# CI's quick mode: small sizes and epochs; chapters default to what a reader runs.
QUICK_PARAMETERS = {
    '00_setup': {'require_services': True},
    '04_streaming_rides': {'rides': 300, 'trees': 20},  # the reader's thousand rides take two minutes through the emulator's slow push; 100 trees 20 s
    '06_gcp_online': {'benchmark_calls': 50},
    '08_performance': {'use_saved': False, 'seconds': 0.5, 'stream_count': 300, 'gcp_count': 20, 'workers': [1],  # two workers: `make bench`
                       'consumer_processes': [2]},  # 1, 2 and 3 ride-worker processes: `make bench`
}
# The second backend's run checks the storage paths again, not the lessons: it reuses the models the first run trained
# (`reuse_trained_models`), leaves the exercises' solutions out (the first run checked them) and times 50 single requests per
# model instead of 200 (the latency columns' figures are the first run's to show; these only have to come back).
SECOND_BACKEND_PARAMETERS = {'02_2020': {'reuse_trained_models': True, 'latency_requests': 50},
                             '03_2021': {'reuse_trained_models': True, 'latency_requests': 50}}
BACKENDS = {
    '01_2019': ['sqlite', 'cassandra'],
    '02_2020': ['sqlite', 'cassandra'],
    '03_2021': ['sqlite', 'cassandra'],
    '06_gcp_online': ['sqlite', 'cassandra'],
    '07_gcp_offline': ['sqlite', 'cassandra'],
}
# Chapter 09 runs on the Cassandra cluster of tests/test_cluster.py, in the independent group beside these (the cluster's tests use
# what it started); its executed copy lands with these for the book.
RUN_ELSEWHERE = {'09_2022': 'tests/test_cluster.py::test_chapter_09_runs_on_the_cluster'}
RUNS = [(chapter, backend) for chapter in list_chapters() if chapter.stem not in RUN_ELSEWHERE for backend in BACKENDS.get(chapter.stem, [None])]


@pytest.mark.parametrize('chapter, backend', RUNS, ids=[f'{c.stem}-{b}' if b else c.stem for c, b in RUNS])
def test_chapter_runs_end_to_end(chapter, backend):
    second = backend is not None and backend != BACKENDS[chapter.stem][0]
    parameters = {**QUICK_PARAMETERS.get(chapter.stem, {}), **({'backend': backend} if backend else {}),
                  **(SECOND_BACKEND_PARAMETERS.get(chapter.stem, {}) if second else {})}
    run = run_chapter(chapter, parameters, variant=backend, without_tags=('solution',) if second else ())
    code_cells = [c for c in json.loads(run.executed.read_text())['cells'] if c['cell_type'] == 'code']
    not_run = [i for i, c in enumerate(code_cells) if c.get('execution_count') is None and c['source']]
    assert not not_run, f'{chapter.name}: code cells {not_run} did not run'
