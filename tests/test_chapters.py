"""Every chapter end to end through papermill, in reading order, with quick parameters.

A failure names the chapter and the failing cell; executed copies are kept in build/executed/.
"""
import json
import pytest
from speedrun.chapters import list_chapters, run_chapter

# CI's quick mode: small sizes and epochs; chapters default to what a reader runs.
QUICK_PARAMETERS = {
    '00_setup': {'require_services': True},
}


@pytest.mark.parametrize('chapter', list_chapters(), ids=lambda p: p.stem)
def test_chapter_runs_end_to_end(chapter):
    run = run_chapter(chapter, QUICK_PARAMETERS.get(chapter.stem, {}))
    code_cells = [c for c in json.loads(run.executed.read_text())['cells'] if c['cell_type'] == 'code']
    not_run = [i for i, c in enumerate(code_cells) if c.get('execution_count') is None and c['source']]
    assert not not_run, f'{chapter.name}: code cells {not_run} did not run'
