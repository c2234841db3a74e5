"""The chapters run as a reader runs them: in JupyterLab, started as `make lab` starts it, each chapter opened by its address in
headless Chromium and run with Run All from the UI (speedrun.tools.lab). No cell may show an error, the last cell must run,
the kernel must be the workbook's, and the chapter's file must be unchanged (the test's parameters are never saved).
Screenshots in build/lab/. `make test` runs chapter 00 and chapter 04 with the quick parameters; `make lab-test`
(SPEEDRUN_LAB_CHAPTERS=all) every chapter at the reader's defaults, in order."""
import os
import pytest
from speedrun.tools.chapters import KERNEL_NAME, list_chapters
from speedrun.tools.lab import run_notebook_in_lab, start_lab
from test_chapters import QUICK_PARAMETERS

EVERY_CHAPTER = os.environ.get('SPEEDRUN_LAB_CHAPTERS', '') == 'all'
CHAPTERS = list_chapters() if EVERY_CHAPTER else [c for c in list_chapters() if c.stem in ('00_setup', '04_streaming_rides')]


@pytest.fixture(scope='module')
def lab(settings):
    with start_lab(settings) as lab: yield lab
    assert not lab.process.running


@pytest.mark.parametrize('chapter', CHAPTERS, ids=lambda c: c.stem)
def test_a_chapter_runs_from_jupyterlab(lab, settings, chapter, capsys):
    before = chapter.read_bytes()
    parameters = {} if EVERY_CHAPTER else QUICK_PARAMETERS.get(chapter.stem, {})
    run = run_notebook_in_lab(lab, chapter.relative_to(settings.repo_root), parameters, screenshot=settings.build_dir/'lab'/f'{chapter.stem}.png')
    with capsys.disabled(): print(f'\n{run.summary}' + (f'; console errors: {run.console_errors}' if run.console_errors else ''))
    assert chapter.read_bytes() == before, f'{chapter.name} was written by JupyterLab'
    assert not run.errors, f'{chapter.name}: cells with an error: {run.errors} (screenshot {run.screenshot})'
    assert run.last_cell_ran, f'{chapter.name}: {run.cells_run} of {run.code_cells} code cells ran (screenshot {run.screenshot})'
    assert (run.kernel_name, lab.kernels()) == (KERNEL_NAME, []), 'the run used the workbook kernel, and shut it down'
    assert run.screenshot.stat().st_size > 10_000
