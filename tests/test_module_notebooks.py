"""The library notebooks' own demos and assertions (nbdev's notebook tests), one test per notebook."""
import pytest
from nbdev.test import test_nb as run_notebook_tests
from speedrun.config import read_settings

LIBRARY_NOTEBOOKS = sorted((read_settings().repo_root/'nbs').glob('*.ipynb'))


@pytest.mark.parametrize('notebook', LIBRARY_NOTEBOOKS, ids=lambda p: p.stem)
def test_module_notebook(notebook):
    passed, seconds = run_notebook_tests(notebook, skip_flags=['notest', 'slow'], showerr=True)
    assert passed, f'{notebook.name} failed; the error is printed above'
