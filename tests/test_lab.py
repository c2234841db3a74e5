"""The chapters run as a reader runs them: in JupyterLab, started as `make lab` starts it, each chapter opened by its address in
headless Chromium and run with Run All from the UI (speedrun.tools.lab). No cell may show an error, the last cell must run,
the kernel must be the workbook's, and the chapter's file must be unchanged (the test's parameters are never saved).
Screenshots in build/lab/. `make test` runs chapter 00 and chapter 04 with the quick parameters, in the independent group (neither
needs another chapter; screenshots in build/independent/lab/); `make lab-test`
(SPEEDRUN_LAB_CHAPTERS=all) every chapter at the reader's defaults, in order; SPEEDRUN_LAB_CHAPTERS=04,06 those chapters
at their defaults. The chapters start the Cassandra node and the Pub/Sub emulator themselves when nothing answers; what
they started for this test is stopped at its end (with `make test`, both were up before and stay up)."""
import os
import pytest
from speedrun.kit.processes import run_script
from speedrun.kit.services import answers
from speedrun.tools.architecture import SERVICES
from speedrun.tools.chapters import KERNEL_NAME, list_chapters
from speedrun.tools.lab import run_notebook_in_lab, start_lab
from test_chapters import QUICK_PARAMETERS

CHOSEN = os.environ.get('SPEEDRUN_LAB_CHAPTERS', '')  # '' (make test's two), 'all', or chapter numbers: '04,06'
CHAPTERS = [c for c in list_chapters() if (CHOSEN == 'all' or c.stem[:2] in CHOSEN.split(',')
                                           if CHOSEN else c.stem in ('00_setup', '04_streaming_rides'))]
INFRASTRUCTURE = [s for s in SERVICES if s.kind == 'infrastructure']


def answering(settings) -> set[str]:
    "The infrastructure whose script says it answers."
    return {s.name for s in INFRASTRUCTURE if s.local(settings) and answers(s, settings)}


@pytest.fixture(scope='module')
def lab(settings):
    before = answering(settings)
    with start_lab(settings) as lab: yield lab
    assert not lab.process.running
    for service in INFRASTRUCTURE:  # nothing left running that the test's chapters started
        if service.name in answering(settings) - before: run_script(settings.repo_root/service.target, 'stop', settings=settings)


@pytest.mark.parametrize('chapter', CHAPTERS, ids=lambda c: c.stem)
def test_a_chapter_runs_from_jupyterlab(lab, settings, chapter, capsys):
    before = chapter.read_bytes()
    parameters = {} if CHOSEN else QUICK_PARAMETERS.get(chapter.stem, {})
    run = run_notebook_in_lab(lab, chapter.relative_to(settings.repo_root), parameters, screenshot=settings.build_dir/'lab'/f'{chapter.stem}.png')
    with capsys.disabled(): print(f'\n{run.summary}' + (f'; console errors: {run.console_errors}' if run.console_errors else ''))
    assert chapter.read_bytes() == before, f'{chapter.name} was written by JupyterLab'
    assert not run.errors, f'{chapter.name}: cells with an error: {run.errors} (screenshot {run.screenshot})'
    assert run.last_cell_ran, f'{chapter.name}: {run.cells_run} of {run.code_cells} code cells ran (screenshot {run.screenshot})'
    assert (run.kernel_name, lab.kernels()) == (KERNEL_NAME, []), 'the run used the workbook kernel, and shut it down'
    assert run.screenshot.stat().st_size > 10_000
