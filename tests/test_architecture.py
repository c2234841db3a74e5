"""The architecture, as the folder tree draws it: the kit at the bottom, the three stories beside each other,
the tools on top, imports pointing only down (import-linter's contracts in pyproject.toml); each deployable
importing only what it needs; one way to start a service; no module too long to read."""
import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
import pytest
from speedrun.tools.deployables import DEPLOYABLES, closures

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT/'generated'/'speedrun'
LINT_IMPORTS = str(Path(sys.executable).parent/'lint-imports')


def lint(folder: Path, config: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, *(['--config', str(config)] if config else []), '--no-cache'], cwd=folder, capture_output=True, text=True)


def test_the_imports_point_only_down():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert 'Contracts: 2 kept, 0 broken.' in done.stdout


@pytest.mark.parametrize('module, planted, offending', [
    ('kit/settings.py', 'from planted.spam.models import TextClassifierModel', 'planted.kit.settings -> planted.spam.models'),
    ('gcp/ml_api.py', 'from planted.spam.storage import open_storage', 'planted.gcp.ml_api -> planted.spam.storage'),
    ('spam/inbox.py', 'from planted.tools.architecture import SERVICES', 'planted.spam.inbox -> planted.tools.architecture'),
])
def test_an_import_running_up_fails_the_linter_with_its_line(tmp_path, module, planted, offending):
    "A scratch copy of the package (renamed, so that the installed one is not what is read) with one wrong import planted."
    copy = tmp_path/'planted'
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns('__pycache__'))
    for path in copy.glob('**/*.py'): path.write_text(re.sub(r'\bspeedrun\b', 'planted', path.read_text()))
    target = copy/module
    lines = target.read_text().splitlines()
    line_number = next(i for i, line in enumerate(lines) if line.startswith('from ')) + 1
    lines.insert(line_number, planted)
    target.write_text('\n'.join(lines) + '\n')
    config = tmp_path/'pyproject.toml'
    config.write_text(re.sub(r'\bspeedrun\b', 'planted', (ROOT/'pyproject.toml').read_text()))
    done = lint(tmp_path, config)
    assert done.returncode == 1, done.stdout[-2000:]
    assert f'{offending} (l.{line_number + 1})' in done.stdout, done.stdout[-3000:]


def test_each_deployable_imports_only_what_it_needs():
    rows = closures()
    found = {row['deployable']: row['forbidden found'] for row in rows}
    assert all(not forbidden for forbidden in found.values()), found
    print('\n' + '\n'.join(f"{row['deployable']}: {len(row['packages'])} packages, none of {', '.join(row['not imported'])}" for row in rows))


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split('#')[0].strip()
        if line: names.add(re.split(r'[\[=<>~ ]', line)[0].lower().replace('_', '-'))
    return names


def with_dependencies(names: set[str]) -> set[str]:
    "The distributions and everything they require (as installed here), transitively."
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen: continue
        seen.add(name)
        try: requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError: continue
        todo += [re.split(r'[\[=<>~;! (]', r)[0].lower().replace('_', '-') for r in requires if 'extra ==' not in r]
    return seen


OPTIONAL_IMPORTS = {'rich': "httpx's command-line tool, imported when it is installed", 'watchfiles': "uvicorn's reloader, imported when it is installed"}


def test_the_gcp_requirements_cover_the_gcp_deployables_and_nothing_heavy():
    requirements = requirement_names(ROOT/'deploy'/'gcp'/'requirements.txt')
    assert not requirements & {'tensorflow-cpu', 'tensorflow', 'keras', 'scikit-learn', 'nltk', 'matplotlib'}, requirements
    installable = with_dependencies(requirements)
    distributions = importlib.metadata.packages_distributions()
    gcp = [row for row in closures([d for d in DEPLOYABLES if d.module.startswith('speedrun.gcp')])]
    missing = {row['deployable']: sorted({d.lower().replace('_', '-') for package in row['packages'] for d in distributions.get(package, [])} - installable - set(OPTIONAL_IMPORTS))
               for row in gcp}
    assert not any(missing.values()), f'deploy/gcp/requirements.txt lacks what these import: {missing}'


STARTERS = {'Popen', 'start_process', 'start_app', 'start_service', 'running_service'}
ALLOWED = {PACKAGE/'kit'/'processes.py', PACKAGE/'kit'/'services.py', ROOT/'nbs'/'kit'/'01_processes.ipynb', ROOT/'nbs'/'kit'/'01a_inheritance.ipynb', ROOT/'nbs'/'kit'/'10_services.ipynb',
           ROOT/'tests'/'test_make_run.py',  # starts `make run` itself, the entry point, as a reader does (with the kit's start_process)
           PACKAGE/'tools'/'lab.py', ROOT/'nbs'/'tools'/'11_lab.ipynb'}  # JupyterLab, the reader's workbench (`make lab`), not a service of the architecture


def calls_in(source: str) -> list[str]:
    try: tree = ast.parse(source)
    except SyntaxError: tree = ast.parse('\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('!', '%'))))
    return [node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))]


def sources() -> dict[Path, str]:
    found = {path: path.read_text() for path in [*PACKAGE.glob('**/*.py'), *(ROOT/'tests').glob('*.py')] if path.name != '_modidx.py'}
    for notebook in [*(ROOT/'nbs').glob('**/*.ipynb'), *(ROOT/'chapters').glob('*.ipynb')]:
        cells = json.loads(notebook.read_text())['cells']
        found[notebook] = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code' and not ''.join(c['source']).startswith('%%'))
    return found


def test_nothing_starts_a_service_but_the_one_call():
    by_hand = {str(path.relative_to(ROOT)): sorted(set(calls_in(text)) & STARTERS) for path, text in sources().items() if path not in ALLOWED}
    by_hand = {path: calls for path, calls in by_hand.items() if calls}
    assert not by_hand, f'services started by hand, not by Services.start: {by_hand}'
    assert 'start_process' in calls_in((PACKAGE/'kit'/'services.py').read_text())  # the one call does start them


def test_no_module_is_too_long_to_read():
    lengths = {str(path.relative_to(PACKAGE)): len(path.read_text().splitlines()) for path in PACKAGE.glob('**/*.py') if path.name != '_modidx.py'}
    assert max(lengths.values()) <= 250, sorted(lengths.items(), key=lambda item: -item[1])[:5]


def test_the_folder_tree_is_the_layers():
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith('_'))
    assert subpackages == ['gcp', 'kit', 'rides', 'spam', 'tools'], subpackages
    assert sorted(p.name for p in (ROOT/'nbs').iterdir() if p.is_dir() and not p.name.startswith('.')) == subpackages
    assert sorted(p.name for p in PACKAGE.glob('*.py')) == ['__init__.py', '_modidx.py']  # nothing outside the layers
