"""A secret scan of every tracked file (detect-secrets, pinned in environment.yml). What it finds today is
listed and reviewed in .secrets.baseline: placeholders in examples, demo keys in notebooks, a model's
SHA-256. Anything else it finds fails the run. After reviewing a new finding that is not a secret:
.venv/bin/detect-secrets scan $(git ls-files | grep -v '^.secrets.baseline$') > .secrets.baseline"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DETECT_SECRETS = str(Path(sys.executable).parent/'detect-secrets')


def scan(*files: str, cwd: Path = ROOT) -> dict:
    result = subprocess.run([DETECT_SECRETS, 'scan', *files], cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def findings(report: dict) -> set[tuple[str, str, str]]:
    return {(file, item['type'], item['hashed_secret']) for file, items in report['results'].items() for item in items}


def test_no_secret_beyond_the_reviewed_ones():
    tracked = [f for f in subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
               if f != '.secrets.baseline']
    baseline = json.loads((ROOT/'.secrets.baseline').read_text())
    report = scan(*tracked)
    assert report['version'] == baseline['version'], f"detect-secrets {report['version']} is not the pinned {baseline['version']}"
    new = findings(report) - findings(baseline)
    assert not new, f'possible secrets, not in the reviewed .secrets.baseline: {sorted((f, t) for f, t, _ in new)}'
    print(f'\n{len(tracked)} tracked files scanned: {len(findings(report))} findings, all reviewed ({report["version"]})')


def test_the_scan_finds_a_planted_secret(tmp_path):
    planted = tmp_path/'settings.py'
    planted.write_text('aws_access_key_id = "AKIAZ7QXWQ3UEXAMPLE7"\npassword = "hunter2-but-longer-8e1f"\n')
    found = {item['type'] for items in scan(planted.name, cwd=tmp_path)['results'].values() for item in items}
    assert {'AWS Access Key', 'Secret Keyword'} <= found, found
