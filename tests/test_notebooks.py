"""Notebook hygiene: committed without outputs, one module per library notebook, chapters export nothing."""
import json
import pytest
from speedrun.kit.settings import read_settings
from speedrun.tools.chapters import KERNEL_NAME, list_chapters

ROOT = read_settings().repo_root
LIBRARY_NOTEBOOKS = sorted((ROOT/'nbs').glob('**/*.ipynb'))
ALL_NOTEBOOKS = LIBRARY_NOTEBOOKS + list_chapters()


def cells(path):
    return json.loads(path.read_text())['cells']


@pytest.mark.parametrize('notebook', ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_committed_without_outputs(notebook):
    executed = [i for i, cell in enumerate(cells(notebook)) if cell['cell_type'] == 'code' and (cell.get('outputs') or cell.get('execution_count'))]
    assert not executed, f'{notebook.name} has outputs in cells {executed}: run `make clean-notebooks` (nbdev_clean) before committing'


@pytest.mark.parametrize('notebook', ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_uses_the_workbook_kernel(notebook):
    assert json.loads(notebook.read_text())['metadata']['kernelspec']['name'] == KERNEL_NAME


@pytest.mark.parametrize('notebook', LIBRARY_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_notebook_exports_exactly_one_module_of_its_folder(notebook):
    targets = [line.split()[-1] for cell in cells(notebook) if cell['cell_type'] == 'code'
               for line in ''.join(cell['source']).splitlines() if line.startswith('#| default_exp')]
    assert len(targets) == 1, f'{notebook.name}: {targets}'
    assert targets[0].split('.')[0] == notebook.parent.name, f'{notebook} exports {targets[0]}: module notebooks live in the folder of their subpackage'


@pytest.mark.parametrize('chapter', list_chapters(), ids=lambda p: p.name)
def test_chapter_exports_nothing_and_has_a_parameters_cell(chapter):
    sources = [''.join(cell['source']) for cell in cells(chapter) if cell['cell_type'] == 'code']
    assert not [s for s in sources if '#| export' in s or '#| default_exp' in s], 'chapters hold no exported code: it belongs in nbs/'
    tagged = [cell for cell in cells(chapter) if 'parameters' in cell.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1, f'{chapter.name} needs exactly one cell tagged "parameters" for papermill'
