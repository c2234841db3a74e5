"""The originals' own commands, replayed verbatim against `make run`: the spam tutorial's `curl ... | jq`
calls of 2019 to 2021 (with its `jq -r '.[0].sms_id'` line and online-store sampler), the streaming
notes' `gcloud pubsub` commands on the emulator, and the GCP guides' scripts and `GET /predict/1`.
Each runs in bash with the real curl, jq, base64 and gcloud, the same text as the original; only the
environment differs (gcloud pointed at the emulator, the venv's python first on the PATH, the GCP
scripts run in scripts/). Each output is checked for what the original says it shows. Then SIGTERM
to the `make` process must stop the whole architecture and free every port."""
import html, json, os, re, subprocess, time, uuid
from pathlib import Path
import httpx
import pytest
from speedrun.kit.connections import gcloud_environment, pubsub_subscriber
from speedrun.kit.delivery import pull_until
from speedrun.rides.predictions import ride_claims
from speedrun.gcp.data import read_predictions
from speedrun.tools.architecture import SERVICES
from speedrun.tools.chapters import list_chapters
from test_make_run import ports_of, signal_make_and_check, start_make_run

ROOT = Path(__file__).resolve().parents[1]

# The commands, exactly as the originals print them (the first pull of 004 loses the author's prompt, "─╯").
SPAM = {  # 002: the spam-classifier tutorial, in its order
    'v1_text_to_features': 'curl -XPOST \\\n  http://localhost:8000/model/v1/text_to_features \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"text": "I have a dream"}\' | jq',
    'v1_features_to_prediction': 'curl -XPOST \\\n  http://localhost:8000/model/v1/features_to_prediction \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"features": [0.09090909090909091,0.0,0,0,0,0,0,0,0]}\' | jq',
    'v1_text_to_prediction': 'curl -XPOST \\\n  http://localhost:8000/model/v1/text_to_prediction \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"text": "I have a dream"}\' | jq',
    'v1_recent_call_log': 'curl localhost:8000/model/v1/recent_call_log | jq',
    'max_inbox': 'curl http://localhost:8111/sms/max | jq',
    'fiona_message': 'curl http://localhost:8111/sms/fiona/32e14000-8400-11e9-aeb7-d19b11ef0c7e | jq',
    'v2_text_to_features': 'curl -XPOST \\\n  http://localhost:8000/model/v2/text_to_features \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"text": "I have a dream"}\' | jq',
    'v2_features_to_prediction': 'curl -XPOST \\\n  http://localhost:8000/model/v2/features_to_prediction \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"features": [0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,\n                    0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,\n                    0.0,0.0,0.0,0.0,0.0,1.0,20.0,4.0]}\' | jq',
    'v2_text_to_prediction': 'curl -XPOST \\\n  http://localhost:8000/model/v2/text_to_prediction \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"text": "I have a dream"}\' | jq',
    'v3_text_to_features': 'curl -XPOST \\\n  http://localhost:8000/model/v3/text_to_features \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"text": "I have a dream"}\' | jq',
    'v3_features_to_prediction': 'curl -XPOST \\\n  http://localhost:8000/model/v3/features_to_prediction \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"features": [0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,\n                    0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,\n                    0.0,0.0,0.0,0.0,0.0,1.0,20.0,4.0]}\' | jq',
    'v3_text_to_prediction': 'curl -XPOST \\\n  http://localhost:8000/model/v3/text_to_prediction \\\n  -H \'Content-Type: application/json\' \\\n  -d \'{"text": "I have a dream"}\' | jq',
    'sampler_three': 'python scripts/online_store_sampler.py sms14050 sms14051 sms14052',
    'features_by_name': 'curl -s -X POST \\\n  http://127.0.0.1:6566/get-online-features \\\n  -d  \'\n        {\n            "features": [\n                "sms_features1:cap_r",\n                "sms_labels:label"\n            ],\n            "entities": {\n                "sms_id": [\n                    "sms14050",\n                    "sms14051",\n                    "sms14052"\n                ]\n            }\n        }\n      \' | jq',
    'features_by_service': 'curl -s -X POST \\\n  http://127.0.0.1:6566/get-online-features \\\n  -d  \'\n        {\n            "feature_service": "labeled_sms_2",\n            "entities": {\n                "sms_id": [\n                    "sms14050",\n                    "sms14051",\n                    "sms14052"\n                ]\n            }\n        }\n      \' | jq',
    'push': 'curl -X POST "http://localhost:6566/push" -d \'{\n    "push_source_name": "smss2_push",\n    "df": {\n            "sms_id": ["sms14052"],\n            "event_timestamp": ["2021-09-02 00:00:00"],\n            "features": [[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,65,65,108,2,30]]\n    },\n    "to": "online_and_offline"\n  }\'',
    'sampler_pushed': 'python scripts/online_store_sampler.py sms14052',
    'pushed_features': 'curl -s -X POST \\\n  http://127.0.0.1:6566/get-online-features \\\n  -d  \'\n        {\n            "feature_service": "labeled_sms_2",\n            "entities": {\n                "sms_id": ["sms14052"]\n            }\n        }\n      \' | jq',
    'post_ellen': 'curl -XPOST "http://localhost:8111/sms/ellen" \\\n  -H \'Content-Type: application/json\' \\\n  -d  \'\n        {\n            "sender_id": "otto",\n            "sms_text": "Can u get me some cabbages at the grocery store?"\n        }\n      \' | jq',
    'ellen_inbox': 'curl http://localhost:8111/sms/ellen | jq',
    'inbox_post': 'curl -XPOST "http://localhost:8222/sms" \\\n  -H \'Content-Type: application/json\' \\\n  -d  \'\n        {\n            "recipient_id": "otto",\n            "sender_id": "ellen",\n            "sms_text": "They only have turnips left. What do I do?"\n        }\n      \' | jq',
    'otto_inbox': 'curl http://localhost:8111/sms/otto | jq',
    'sms_id_sampler': 'SMS_ID=$(curl -s http://localhost:8111/sms/otto | jq -r \'.[0].sms_id\')\npython scripts/online_store_sampler.py "$SMS_ID"',
}
RIDE_PUBLISH = 'gcloud pubsub topics publish taxi-ride-streaming --message \'{\n    "ride": {\n        "PULocationID": 130,\n        "DOLocationID": 205,\n        "trip_distance": 3.66\n    },\n    "ride_id": 123\n}\''  # 004, sections 03 and 06
GCLOUD_PULLS = ['gcloud pubsub subscriptions pull ride-predictions-sub                          ─╯', 'gcloud pubsub subscriptions pull ride-predictions-sub --format=json | jq ', "gcloud pubsub subscriptions pull ride-predictions-sub --format=json | jq -r '.[].message.data' | base64 --decode | jq", "gcloud pubsub subscriptions pull ride-predictions-sub --limit=1 --format=json | jq -r '.[].message.data' | base64 --decode | jq"]  # 004, section 06 and 07
GCP = ['python -m add_data_point "test data point 1"', 'python -m import_data_to_fs', 'python -m publish "{\\"id\\": \\"1\\"}"']  # 000 (and 001's first two)


REPLAYED = []  # (name, seconds) of each command replayed, printed at the end


def shell(command: str, environment: dict, cwd: Path = ROOT, timeout: float = 120, original: bool = True) -> str:
    "Run `command` in bash as a reader would (pipefail, so a failing curl fails the line); its standard output. `original`: counted as replayed."
    started = time.perf_counter()
    done = subprocess.run(['bash', '-o', 'pipefail', '-c', command], capture_output=True, text=True, cwd=cwd, env=environment, timeout=timeout)
    assert done.returncode == 0, f'{command}\n-> exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}'
    if original: REPLAYED.append((command.splitlines()[0][:70], time.perf_counter() - started))
    return done.stdout


def until(check, command: str, environment: dict, timeout: float = 90, cwd: Path = ROOT):
    "Replay `command` until `check(output)` holds (a pull shows the prediction); what it showed."
    deadline = time.monotonic() + timeout
    while True:
        output = shell(command, environment, cwd)
        if check(output) or time.monotonic() > deadline: break
        time.sleep(1)
    assert check(output), f'{command}\n-> {output[-2000:]}'
    return output


def page_commands(settings):
    "The commands of the home page, as a reader copies them."
    page = httpx.get(SERVICES['home'].url(settings) + '/', timeout=30, trust_env=False).text
    return [html.unescape(command) for command in re.findall(r'<pre>(.*?)</pre>', page, re.S)]


@pytest.fixture(scope='module')
def make_run(settings):
    "The whole architecture, as `make run` starts it (after the chapters built it); stopped by the last test, or here if that failed."
    run = start_make_run(settings, 'test-originals-make-run')
    yield run
    if run.running: run.stop()


@pytest.fixture(scope='module')
def reader_environment(settings, make_run):
    "A reader's shell: the venv's python first, gcloud pointed at the emulator (the README's three variables)."
    return {**os.environ, 'PATH': f"{ROOT/'.venv'/'bin'}:{os.environ['PATH']}", **gcloud_environment(settings)}


def test_make_run_serves_the_whole_architecture(settings, make_run):
    "Every service of the registry started; a ride published with the home page's own command comes back predicted."
    output = make_run.log_path.read_text()
    assert 'pubsub-emulator: answering at' in output  # the suite's emulator, reused
    for service in (s for s in SERVICES if s.kind != 'infrastructure'): assert f'{service.name:>20}: ' in output, f'{service.name} not started:\n{output[-3000:]}'
    commands = page_commands(settings)
    export = next(c for c in commands if c.startswith('export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB='))
    # a ride, published with the page's command (under a new ride id), comes back predicted on ride-predictions-sub
    ride_id = f'make-run-{uuid.uuid4().hex[:8]}'
    publish = next(c for c in commands if c.startswith('gcloud pubsub topics publish taxi-ride-streaming '))
    shell(export + '\n' + publish.replace('"ride_id": 123', f'"ride_id": "{ride_id}"'), os.environ, original=False)
    subscriber = pubsub_subscriber(settings)
    ours = lambda message: json.loads(message.data)['prediction']['ride_id'] == ride_id
    try: kept = pull_until(subscriber, subscriber.subscription_path(settings.pubsub_project_id, 'ride-predictions-sub'), bool, timeout=120, settle=0, keep=ours)
    finally: subscriber.close()
    assert kept, f'no prediction for ride {ride_id} on ride-predictions-sub within 120 s'
    found = kept[0]
    assert found.attributes['consumer'] in ('ride-function', 'ride-worker'), dict(found.attributes)
    # the SMS worker pulls its subscription (a message through it is chapter 05's test: on an emulator shared by many short-lived
    # consumers, a message can stay leased to one gone for a while, so a round trip here would time out now and then)
    assert 'listening on projects/' in (settings.logs_dir/'incoming-sms-worker.log').read_text()
    # the home page links every chapter to its page of the book, which it serves (built by make run when missing)
    home = SERVICES['home'].url(settings)
    pages = re.findall(r'href="(/book/chapters/[^"]+[.]html)">read it', httpx.get(home + '/', timeout=30, trust_env=False).text)
    assert [Path(page).stem for page in pages] == [chapter.stem for chapter in list_chapters()], pages
    assert all(httpx.get(home + page, timeout=30, trust_env=False).status_code == 200 for page in pages)


def test_spam_tutorial_2019_to_2021(reader_environment):
    run = lambda name: shell(SPAM[name], reader_environment)
    answer = lambda name: json.loads(run(name))
    # 2019: features v1 of "I have a dream" (cap_r 1/11), a prediction, the call log "a nonempty list"
    features = answer('v1_text_to_features')['features']
    assert len(features) == 9 and abs(features[0] - 1 / 11) < 1e-9, features
    for name in ('v1_features_to_prediction', 'v1_text_to_prediction'):
        assert answer(name)['top']['label'] == 'ham', name
    log = answer('v1_recent_call_log')
    assert isinstance(log, list) and log and all({'called_at', 'endpoint', 'version', 'input_json'} <= set(call) for call in log), log
    # the inboxes: a list of messages; one message by its id
    inbox = answer('max_inbox')
    assert isinstance(inbox, list) and inbox and {sms['user_id'] for sms in inbox} == {'max'}, inbox
    assert all({'user_id', 'sms_id', 'sender_id', 'sms_text', 'date_sent'} <= set(sms) for sms in inbox), inbox
    message = answer('fiona_message')
    assert (message['user_id'], message['sms_id']) == ('fiona', '32e14000-8400-11e9-aeb7-d19b11ef0c7e'), message
    # 2020 and 2021: features v2 (30 token numbers, zeros first: the tutorial's vector ends 1, 20, 4) and the two LSTMs
    for version in ('v2', 'v3'):
        features = answer(f'{version}_text_to_features')['features']
        assert len(features) == 30 and features[0] == 0 and all(features[-3:]), features
        for name in (f'{version}_features_to_prediction', f'{version}_text_to_prediction'):
            assert answer(name)['top']['label'] in ('ham', 'spam'), name
    # the online store after the incremental materialisation: both feature services for the three messages
    sampled = run('sampler_three')
    assert all(f'== {service}' in sampled for service in ('labeled_sms_1', 'labeled_sms_2')) and '(nothing online)' not in sampled, sampled
    # the feature server, by feature names and by feature service
    by_name = answer('features_by_name')
    assert by_name['metadata']['feature_names'] == ['sms_id', 'cap_r', 'label'] and len(by_name['results'][0]['values']) == 3, by_name
    by_service = answer('features_by_service')
    assert 'label' in by_service['metadata']['feature_names'] and all(s == 'PRESENT' for r in by_service['results'] for s in r['statuses']), by_service
    # a push of new features v2 for sms14052, online and offline; the server and the sampler then read them back
    run('push')
    pushed = [1] * 25 + [65, 65, 108, 2, 30]
    assert pushed in [r['values'][0] for r in answer('pushed_features')['results']], answer('pushed_features')
    assert str(pushed).replace(' ', '') in run('sampler_pushed').replace(' ', ''), run('sampler_pushed')
    # architecture II: a message written through the user-data API, then one through the inbox
    written = answer('post_ellen')
    assert written['successful'] is True and written['sms_id'], written
    assert written['sms_id'] in [sms['sms_id'] for sms in answer('ellen_inbox')]
    received = answer('inbox_post')
    assert received['success'] is True, received
    assert answer('otto_inbox')[0]['sms_text'] == 'They only have turnips left. What do I do?'
    # "the online store will only have the features v2 number vector for it"
    sampled = run('sms_id_sampler')
    assert '== labeled_sms_2' in sampled and sampled.count('(nothing online)') == 1, sampled


def test_streaming_notes_gcloud_commands(settings, reader_environment):
    # ride 123 may have been predicted on this build before (one prediction per ride): start as a reader who never sent it
    ride_claims(settings).release(['123'])
    subscriber = pubsub_subscriber(settings)
    pull_until(subscriber, f'projects/{settings.pubsub_project_id}/subscriptions/ride-predictions-sub', lambda kept: True, timeout=10, settle=1)
    subscriber.close()
    published = shell(RIDE_PUBLISH, reader_environment)
    assert 'messageIds:' in published, published
    decoded = lambda output: [json.loads(line) for line in output.splitlines() if line.startswith('{')] if output.strip() else []
    shows_ride = lambda output: '"ride_id": 123' in output or 'ride_id": 123' in output.replace('\\"', '"')
    # the table, the JSON envelope, and the decoded prediction; the prediction is not acknowledged, so each
    # pull gets it again once its acknowledgement deadline has passed
    until(shows_ride, GCLOUD_PULLS[0].replace('─╯', '').rstrip(), reader_environment)
    envelope = until(lambda output: output.strip() not in ('', '[]'), GCLOUD_PULLS[1], reader_environment)
    assert json.loads(envelope)[0]['message']['data'], envelope
    for command in GCLOUD_PULLS[2:]:
        output = until(lambda output: output.strip() != '', command, reader_environment)
        prediction = json.loads(output)
        assert prediction['prediction']['ride_id'] == 123 and 1 < prediction['prediction']['ride_duration'] < 60, prediction
        assert {'model', 'version', 'prediction'} <= set(prediction), prediction


def test_gcp_guides_scripts_and_predict(settings, reader_environment):
    scripts = ROOT/'scripts'
    added = shell(GCP[0], reader_environment, cwd=scripts)
    assert 'test data point 1' in added, added
    shell(GCP[1], reader_environment, cwd=scripts)
    # the online guide's request: "a JSON response like the following"
    answer = json.loads(shell('curl -s http://localhost:8080/predict/1', reader_environment))
    assert answer['data'] == 'test data point 1' and answer['prediction']['sequence'] == 'test data point 1', answer
    assert sorted(answer['prediction']['labels']) == sorted(['mobile', 'website', 'account access', 'billing']), answer
    assert abs(sum(answer['prediction']['scores']) - 1) < 1e-3, answer
    # the offline guide: a request on the input queue; the batch function stores the prediction
    before = max([row['prediction_id'] for row in read_predictions(settings, limit=1)], default=0)
    shell(GCP[2], reader_environment, cwd=scripts)
    deadline = time.monotonic() + 60
    while not (new := [row for row in read_predictions(settings, limit=5) if row['prediction_id'] > before]) and time.monotonic() < deadline: time.sleep(0.5)
    assert new and new[0]['data_point_id'] == 1 and new[0]['prediction']['sequence'] == 'test data point 1', new


def test_sigterm_to_make_run_stops_the_architecture(settings, make_run):
    figures = signal_make_and_check(make_run, 'SIGTERM', ports_of(SERVICES.names, settings), settings.host, stop_within=60)
    print(f'\n{len(REPLAYED)} commands replayed from the originals, all passed (slowest: '
          + ', '.join(f'{name!r} {seconds:.1f} s' for name, seconds in sorted(REPLAYED, key=lambda r: -r[1])[:3])
          + f"); make run stopped by SIGTERM: {figures}")
