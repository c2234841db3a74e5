"""Faults, each against the real component (a Cassandra node that wants credentials, stopped and started again, is in
test_cassandra_credentials.py): the feature server and the zero-shot server down, the Pub/Sub emulator restarted under
load (under the ride worker and under the incoming-SMS worker), poison and duplicate messages. What is
promised is checked where a reader would look: the predictions and dead letters on their topics (read
by subscriptions of the test's own, made again after a restart), the messages in the inboxes. Each test
prints what it measured; test_chapters.py has run before (conftest.py), so the chapters' models and
feature store are built."""
import json
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
import httpx
import pytest
from speedrun.kit.connections import pubsub_subscriber
from speedrun.kit.delivery import Reader, publish_until_accepted, reconcile
from speedrun.kit.processes import wait_for
from speedrun.kit.pulling import LISTENING
from speedrun.kit.storage import new_time_uuid
from speedrun.gcp.data import add_data_point
from speedrun.gcp.feature_store import import_data_to_feature_store
from speedrun.rides.predictions import ride_claims
from speedrun.rides.messages import PREDICTIONS_TOPIC, RIDE_TOPICS, parse_ride_message
from speedrun.spam.feature_server import online_features2
from speedrun.spam.incoming_sms import SMS_TOPICS
from speedrun.spam.storage import open_storage
from speedrun.tools.architecture import SERVICES
from speedrun.tools.cluster_drills import ride_messages

ROOT = Path(__file__).resolve().parents[1]


def get(url, **options):
    try: return httpx.request(options.pop('method', 'GET'), url, trust_env=False, timeout=10, **options)
    except httpx.HTTPError as error: return error


# --- Feature server and zero-shot server down ------------------------------------------------------

def test_feature_server_down_is_said_and_nothing_half_written(settings):
    user = f'fault-{uuid.uuid4().hex[:6]}'
    with SERVICES.start('feature-server', 'user-data-api', 'model-serving-api', 'inbox-api', 'proxy',
                        settings=replace(settings, spam_model_versions=('v3',)), log_prefix='fault-') as running:
        inbox_api, proxy, user_data_api = running.url('inbox-api'), running.url('proxy'), running.url('user-data-api')
        running.stop('feature-server')
        answer = get(f'{inbox_api}/sms', method='POST', json={'recipient_id': user, 'sender_id': 'nina', 'sms_text': 'Lunch on Friday?'})
        body = answer.json()
        assert answer.status_code == 503 and body['stage'] == 'push' and body['sms_id'] and 'is stored, its features are not online' in body['detail'], body
        assert body['success'] is False and body['reason'] == body['detail'], body  # the original's fields, with the right status
        proxied = get(f"{proxy}/features/{body['sms_id']}")
        assert proxied.status_code == 503 and 'unreachable' in proxied.json()['detail'], proxied.text
        stored = get(f'{user_data_api}/sms/{user}').json()
        assert [m['sms_id'] for m in stored] == [body['sms_id']]  # stored once, and the answer said so

        running.start('feature-server')  # on its port again
        retried = get(f'{inbox_api}/sms', method='POST', json={'recipient_id': user, 'sender_id': 'nina', 'sms_text': 'Lunch on Friday?', 'sms_id': body['sms_id']})
        assert retried.status_code == 200 and retried.json()['success'], retried.text
        assert len(get(f'{user_data_api}/sms/{user}').json()) == 1
        assert get(f"{proxy}/features/{body['sms_id']}").json()['features'] == online_features2(running.url('feature-server'), [body['sms_id']])[body['sms_id']]
    print(f'\nfeature server down: inbox API {answer.status_code} "{body["detail"][:90]}..."; proxy {proxied.status_code}; the retry with the sms_id completed it')


def test_zero_shot_server_down_and_back(settings, tmp_path):
    scratch = replace(settings, build_dir=tmp_path, online_store_backend='sqlite')
    point = add_data_point('My invoice was charged twice', scratch)
    import_data_to_feature_store(scratch)
    with SERVICES.start('zero-shot-server', 'ml-api', settings=scratch, log_prefix='fault-') as running:
        ml_api = running.url('ml-api')
        assert get(f'{ml_api}/predict/{point}').json()['prediction']['labels'][0] == 'billing'
        running.stop('zero-shot-server')
        down = get(f'{ml_api}/predict/{point}')
        assert down.status_code == 503 and 'unreachable' in down.json()['detail'], down.text
        running.start('zero-shot-server')
        assert get(f'{ml_api}/predict/{point}').status_code == 200
    print(f'\nzero-shot server down: ML API {down.status_code} "{down.json()["detail"][:80]}"; 200 again once it was back')


# --- Pub/Sub: the emulator restarted under load; poison and duplicates ------------------------------

def emulator(action):
    subprocess.run(['bash', str(ROOT/'ci'/'pubsub.sh'), action], check=True, capture_output=True, timeout=120)


def worker_on_its_own_subscription(name: str, settings):
    "The worker service `name` on a subscription of its own (made by the worker), deleted afterwards."
    subscription = f'fault-{name}-{uuid.uuid4().hex[:6]}'
    running = SERVICES.start(name, settings=settings, log_prefix='fault-', options={name: {'arguments': ('--subscription', subscription)}})
    yield running
    running.stop()
    subscriber = pubsub_subscriber(settings)
    try: subscriber.delete_subscription(request={'subscription': subscriber.subscription_path(settings.pubsub_project_id, subscription)})
    except Exception: pass
    finally: subscriber.close()


@pytest.fixture
def ride_worker(settings): yield from worker_on_its_own_subscription('ride-worker', settings)


def restart_emulator_under(worker, reader: Reader) -> float:
    """Restart the emulator while the worker is frozen (SIGSTOP), so that the reader has drained what was published
    before and has its subscriptions back before the worker publishes again (the emulator forgets subscriptions, and
    drops what is published to a topic without one); the worker's own stream breaks, and it must reconnect. Seconds taken."""
    started = time.monotonic()
    worker.pause()
    reader.quiet_for(2)
    emulator('stop'); emulator('start')
    reader.resubscribe()
    worker.resume()
    return time.monotonic() - started


def test_emulator_restarted_under_load_loses_nothing(settings, ride_worker):
    run = uuid.uuid4().hex[:6]
    rides, poison = ride_messages(run, 4000, settings), [f'poison {run} {i}'.encode() for i in range(20)]
    messages = rides + poison
    reader = Reader(settings, [PREDICTIONS_TOPIC, RIDE_TOPICS.dead_letter], label='fault-rides')
    def predicted() -> Counter: return Counter(json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC))
    def dead_lettered() -> Counter: return Counter(m.data for m in reader.messages(RIDE_TOPICS.dead_letter))
    ride_ids = {m: parse_ride_message(m)[0] for m in rides}
    def unsettled(batch):
        done, letters = predicted(), dead_lettered()
        return [m for m in batch if not letters[m] and not (m in ride_ids and done[ride_ids[m]])]
    failed_publishes, restarted, started = 0, None, time.monotonic()
    try:
        for start in range(0, len(messages), 200):  # about 2,000 messages a second, the emulator restarted a second in
            failed_publishes += publish_until_accepted(messages[start:start + 200], RIDE_TOPICS, settings)
            if restarted is None and time.monotonic() - started > 1: restarted = restart_emulator_under(ride_worker['ride-worker'], reader)
            time.sleep(0.1)
        settled = reconcile(messages, unsettled, lambda batch: publish_until_accepted(batch, RIDE_TOPICS, settings), quiet_seconds=5, timeout=180)
        reader.quiet_for(3)  # a second copy of anything would show by now
    finally: reader.stop()
    ours, letters = Counter({k: v for k, v in predicted().items() if k.startswith(run)}), dead_lettered()
    assert set(ours) == {parse_ride_message(m)[0] for m in rides} and set(ours.values()) == {1}, Counter(ours.values())  # every ride once
    assert {m: letters[m] for m in poison} == {m: 1 for m in poison}  # every poison message dead-lettered once
    assert ride_worker['ride-worker'].running, ride_worker['ride-worker'].log_tail()
    reconnects = ride_worker['ride-worker'].log_path.read_text().count(LISTENING) - 1
    assert reconnects > 0, 'the worker never lost its stream: the fault did not hit'
    print(f'\nemulator restarted {restarted:.1f} s (the worker frozen meanwhile; it reconnected {reconnects} times): {len(messages)} published; '
          f'read back: {len(ours)} predictions, each once, and {len(poison)} dead letters, each once; {failed_publishes} publish attempts '
          f"failed and were repeated; {settled['resent']} messages sent again in {settled['resend_rounds']} rounds; all settled {settled['seconds']} s after publishing")


def test_poison_is_dead_lettered_once_and_a_duplicate_has_one_effect(settings, ride_worker):
    run = uuid.uuid4().hex[:6]
    reader = Reader(settings, [PREDICTIONS_TOPIC, RIDE_TOPICS.dead_letter], label='fault-poison')
    [ride] = ride_messages(run, 1, settings)
    poison = f'{{"ride_id": "{run}-poison", "ride": {{"PULocationID": "not a number"}}}}'.encode()
    publish_until_accepted([ride, poison, ride, poison, ride], RIDE_TOPICS, settings)
    try:
        wait_for(lambda: reader.messages(PREDICTIONS_TOPIC) and [m for m in reader.messages(RIDE_TOPICS.dead_letter) if m.data == poison], 30, step=0.2)
        reader.quiet_for(5)  # a second copy would show
    finally: reader.stop()
    mine = [m for m in reader.messages(PREDICTIONS_TOPIC) if json.loads(m.data)['prediction']['ride_id'] == f'{run}-0']
    letters = [m for m in reader.messages(RIDE_TOPICS.dead_letter) if m.data == poison]
    assert len(mine) == 1 and len(letters) == 1, (len(mine), len(letters))
    assert 'PULocationID' in letters[0].attributes['reason']
    print(f'\nthree copies of a ride: {len(mine)} prediction; two copies of a poison message: {len(letters)} dead letter ("{letters[0].attributes["reason"]}")')


def test_rides_held_by_a_killed_consumer_are_taken_over(settings, ride_worker):
    "The state a consumer killed mid-batch leaves: its rides taken under a lease and never settled. Nothing may be lost."
    run = uuid.uuid4().hex[:6]
    messages = ride_messages(run, 200, settings)
    held = [f'{run}-{i}' for i in range(0, 200, 2)]
    assert set(ride_claims(settings).take(held, lease=5).values()) == {'taken'}  # the killed consumer's lease: 5 s
    reader = Reader(settings, [PREDICTIONS_TOPIC], label='fault-held')
    ride_ids = {m: parse_ride_message(m)[0] for m in messages}
    def unsettled(batch):
        done = {json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC)}
        return [m for m in batch if ride_ids[m] not in done]
    started = time.monotonic()
    try:
        publish_until_accepted(messages, RIDE_TOPICS, settings)
        settled = reconcile(messages, unsettled, lambda batch: publish_until_accepted(batch, RIDE_TOPICS, settings), quiet_seconds=30, timeout=60)
    finally: reader.stop()
    seconds = time.monotonic() - started
    predicted = Counter(json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC))
    assert settled['resent'] == 0 and {f'{run}-{i}' for i in range(200)} <= set(predicted)
    assert seconds >= 5, 'the held rides were predicted before their lease ran out'
    print(f'\n100 of 200 rides held by a consumer that died: all 200 predicted {seconds:.1f} s after publishing (lease 5 s), none sent again')


@pytest.fixture
def sms_worker(settings): yield from worker_on_its_own_subscription('incoming-sms-worker', settings)


def test_the_sms_worker_survives_an_emulator_restart(settings, sms_worker):
    "New SMS published while the emulator restarts: each stored once in its inbox, each poison message dead-lettered once."
    run, recipient = uuid.uuid4().hex[:6], f'fault-{uuid.uuid4().hex[:6]}'
    texts = [f'message {i} of run {run}' for i in range(300)]
    sms = [json.dumps({'recipient_id': recipient, 'sender_id': 'nina', 'sms_text': text, 'sms_id': str(new_time_uuid())}).encode() for text in texts]
    poison = [f'not json {run} {i}'.encode() for i in range(5)]
    messages = sms + poison
    storage = open_storage(settings)
    reader = Reader(settings, [SMS_TOPICS.dead_letter], label='fault-sms')
    def stored() -> Counter: return Counter(message['sms_text'] for message in storage.user_sms(recipient, limit=10_000))
    text_of = {m: json.loads(m)['sms_text'] for m in sms}
    def unsettled(batch):
        inbox, letters = stored(), {m.data for m in reader.messages(SMS_TOPICS.dead_letter)}
        return [m for m in batch if m not in letters and not (m in text_of and inbox[text_of[m]])]
    restarted = None
    try:
        for start in range(0, len(messages), 50):
            publish_until_accepted(messages[start:start + 50], SMS_TOPICS, settings)
            if restarted is None and start >= 100: restarted = restart_emulator_under(sms_worker['incoming-sms-worker'], reader)
            time.sleep(0.1)
        settled = reconcile(messages, unsettled, lambda batch: publish_until_accepted(batch, SMS_TOPICS, settings), quiet_seconds=5, timeout=180)
        reader.quiet_for(3)
    finally: reader.stop()
    inbox, letters = stored(), Counter(m.data for m in reader.messages(SMS_TOPICS.dead_letter))
    storage.close()
    assert inbox == Counter(texts), Counter(inbox.values())  # every message stored, once (a message sent again keeps its sms_id)
    assert {m: letters[m] for m in poison} == {m: 1 for m in poison}
    worker = sms_worker['incoming-sms-worker']
    reconnects = worker.log_path.read_text().count(LISTENING) - 1
    assert worker.running and reconnects > 0, worker.log_tail()
    print(f'\nincoming SMS: emulator restarted {restarted:.1f} s (the worker reconnected {reconnects} times); {len(sms)} messages stored once each, '
          f"{len(poison)} dead letters once each; {settled['resent']} messages sent again in {settled['resend_rounds']} rounds, "
          f"all settled {settled['seconds']} s after publishing")
