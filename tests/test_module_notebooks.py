"""The library notebooks' own demos and checks, one test per notebook, run as nbdev's test_nb runs them (cells flagged
`notest` or `slow` skipped). Cells flagged `services` need the Cassandra node and the Pub/Sub emulator: `make test` has
them up, so they run here. A failure names the cell and shows its error."""
import atexit
import os
import re
import pytest
from execnb.shell import CaptureShell
from fastcore.foundation import working_directory
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor
from speedrun.kit.settings import read_settings

NBS = read_settings().repo_root/'nbs'
LIBRARY_NOTEBOOKS = sorted(NBS.glob('**/*.ipynb'))
SKIPPED_FLAGS = {'notest', 'slow'}


def run_notebook(path):
    "Run the notebook's code cells in order; the first failing cell's index, source and error text, or None."
    os.environ['IN_TEST'] = '1'
    notebook, shell = NBProcessor(path, procs=FrontmatterProc, process=True).nb, CaptureShell(path)
    try:
        with working_directory(path.parent):
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != 'code' or SKIPPED_FLAGS & (getattr(cell, 'directives_', {}) or {}).keys(): continue
                result = shell.run_cell(cell.source)
                if result['exception'] is not None:
                    return index, cell.source, re.sub(r'\x1b\[[0-9;]*m', '', result['stdout'] + result['stderr'])
        return None
    finally: close_shell(shell)


def close_shell(shell):
    """Close a notebook's shell's history now, and leave its namespace to the interpreter's exit: IPython's own exit
    clears each shell's namespace with a full `gc.collect()`, a second each with TensorFlow and Feast loaded, a minute in all.
    (The namespace stays: the notebook's own `atexit` functions, such as the one stopping its processes, live in it.)"""
    atexit.unregister(shell.atexit_operations)
    shell.history_manager.end_session()
    shell.history_manager.close()


@pytest.mark.parametrize('notebook', LIBRARY_NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_module_notebook(notebook):
    failure = run_notebook(notebook)
    if failure:
        index, source, error = failure
        pytest.fail(f'{notebook.relative_to(NBS)} failed in cell {index}:\n{source[-1500:]}\n{error[-3000:]}', pytrace=False)


def test_a_failing_cell_is_named(tmp_path):
    "The runner reports a failure, and which cell it was (a notebook that fails on purpose)."
    import nbformat
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1'), nbformat.v4.new_code_cell('#| notest\nraise ValueError("skipped")'),
                                               nbformat.v4.new_code_cell('assert x == 2, "x is not 2"')])
    nbformat.write(notebook, tmp_path/'failing.ipynb')
    index, source, error = run_notebook(tmp_path/'failing.ipynb')
    assert (index, 'x is not 2' in error) == (2, True), error
