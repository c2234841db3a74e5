"""How the chapters read: checks out of the reader's cells, exercises with solutions that check themselves,
the spam story told at full length, glossary links that land, every step of the originals found in a chapter,
and architecture diagrams that match the code that draws them."""
import json, re
import pytest
from speedrun.kit.settings import read_settings
from speedrun.tools.chapters import list_chapters
from speedrun.tools.diagrams import DIAGRAMS, diagrams_dir, stale_diagrams
from speedrun.tools.original_steps import END, START, missing_steps, read_steps, readme_with_table, steps_file, steps_table
from speedrun.tools.reading import CHECK_TAGS, code_lines, is_check_line, read_chapter

ROOT = read_settings().repo_root
CHAPTERS = list_chapters()
SPAM_STORY = ['01_2019', '02_2020', '03_2021']
SPAM_STORY_WORDS = 6500  # the original's story (../shared/originals, "The story"): about 6,500 words


def cells(chapter):
    return json.loads(chapter.read_text())['cells']


def tags(cell):
    return cell.get('metadata', {}).get('tags', [])


def test_diagrams_match_the_code_that_draws_them():
    stale = stale_diagrams(diagrams_dir(ROOT))
    assert not stale, f'chapters/diagrams/ is out of date for {stale}: redraw with `.venv/bin/python -m speedrun.tools.diagrams` and commit'


def test_every_diagram_is_shown_where_its_stage_begins():
    "Each diagram (named NN_...) is shown in a markdown cell of chapter NN."
    markdown = {c.stem[:2]: ''.join(''.join(cell['source']) for cell in cells(c) if cell['cell_type'] == 'markdown') for c in CHAPTERS}
    unshown = [d.name for d in DIAGRAMS if f'diagrams/{d.name}.svg' not in markdown.get(d.name[:2], '')]
    assert not unshown, f'diagrams their chapter does not show: {unshown}'


@pytest.mark.parametrize('chapter', CHAPTERS, ids=lambda p: p.stem)
def test_cells_a_reader_reads_hold_no_checks(chapter):
    reading = read_chapter(chapter)
    assert reading.reader_check_lines == 0, (f'{chapter.name}: {reading.reader_check_lines} assert/test_eq lines in cells a reader reads; '
                                             f'move them into the short cell tagged "check" at the end of the section')


@pytest.mark.parametrize('chapter', CHAPTERS, ids=lambda p: p.stem)
def test_chapter_ends_with_exercises_whose_solutions_check_themselves(chapter):
    notebook = cells(chapter)
    solutions = [i for i, cell in enumerate(notebook) if 'solution' in tags(cell)]
    assert 2 <= len(solutions) <= 3, f'{chapter.name}: {len(solutions)} solution cells; a chapter ends with two or three exercises'
    for i in solutions:
        asked = ''.join(notebook[i - 1]['source'])
        assert notebook[i - 1]['cell_type'] == 'markdown' and '### Exercise' in asked, f'{chapter.name} cell {i}: a solution follows the markdown cell of its exercise (### Exercise N: ...)'
        assert any(is_check_line(line) for line in code_lines(''.join(notebook[i]['source']))), f'{chapter.name} cell {i}: the solution checks itself'
    for i, cell in enumerate(notebook):
        if set(CHECK_TAGS) & set(tags(cell)):
            assert cell['metadata'].get('jupyter', {}).get('source_hidden'), f'{chapter.name} cell {i}: check and solution cells are collapsed'


def test_the_spam_story_is_told_at_the_originals_length():
    words = {c.stem: read_chapter(c).prose_words for c in CHAPTERS if c.stem in SPAM_STORY}
    assert sum(words.values()) >= SPAM_STORY_WORDS, f'the spam story chapters hold {words} words of prose, {sum(words.values())} in all'


@pytest.mark.parametrize('chapter', CHAPTERS, ids=lambda p: p.stem)
def test_no_chapter_checks_that_it_runs_on_the_emulator(chapter):
    lines = [line for cell in cells(chapter) if cell['cell_type'] == 'code' for line in code_lines(''.join(cell['source']))]
    assert not [line for line in lines if is_check_line(line) and 'emulator' in line], f'{chapter.name} must run on real Pub/Sub by configuration'


def test_glossary_links_land_and_every_term_is_linked():
    glossary = (ROOT/'chapters'/'glossary.md').read_text()
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', glossary))
    linked = {anchor for c in CHAPTERS for cell in cells(c) if cell['cell_type'] == 'markdown'
              for anchor in re.findall(r'glossary\.md#([a-z0-9-]+)', ''.join(cell['source']))}
    assert linked <= anchors, f'links to glossary entries that do not exist: {sorted(linked - anchors)}'
    assert anchors <= linked, f'glossary entries no chapter links to: {sorted(anchors - linked)}'


def test_every_step_of_the_originals_has_its_cell_and_the_readme_lists_them():
    steps = read_steps(steps_file(ROOT))
    missing = missing_steps(steps, ROOT/'chapters')
    assert not missing, 'steps whose cell is not found exactly once: ' + '; '.join(f'{s.chapter}: {s.step} ({s.needle!r})' for s in missing)
    readme = (ROOT/'README.md').read_text()
    assert readme_with_table(readme, steps_table(steps, ROOT/'chapters')) == readme, \
        'the README\'s table of original steps is out of date: `.venv/bin/python -m speedrun.tools.original_steps --write`'
