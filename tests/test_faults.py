"""Faults, each against the real component: a Cassandra node stopped and started again (one that wants
credentials), the feature server and the model server down, the Pub/Sub emulator restarted under load,
poison and duplicate messages. Each test prints what it measured; test_chapters.py has run before
(conftest.py), so the chapters' models and feature store are built."""
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
import httpx
import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from speedrun.config import read_settings
from speedrun.connections import ensure_subscription, pubsub_subscriber
from speedrun.feature_server import online_features2, start_feature_server
from speedrun.gcp.data import add_data_point
from speedrun.gcp.feature_store import import_data_to_feature_store
from speedrun.ride_worker import publish_until_accepted, reconcile
from speedrun.rides import read_trips, ride_message
from speedrun.services import free_port, start_app, start_service
from speedrun.storage import check_storage_behaviour, open_storage
from speedrun.streaming import DEAD_LETTER_TOPIC, PREDICTIONS_TOPIC, Claims, ensure_ride_topics
from speedrun.user_data import load_sample_inboxes

ROOT = Path(__file__).resolve().parents[1]


def wait_for(check, timeout: float, step: float = 0.5):
    "Seconds until `check()` is true (raises after `timeout`)."
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout: raise TimeoutError(f'not true after {timeout} s: {check}')
        time.sleep(step)
    return time.monotonic() - started


def get(url, **options):
    try: return httpx.request(options.pop('method', 'GET'), url, trust_env=False, timeout=10, **options)
    except httpx.HTTPError as error: return error


# --- Cassandra: a node that wants credentials, stopped mid-run --------------------------------------

@pytest.fixture
def password_node(tmp_path):
    "A second Cassandra node (its own ports and folder) with PasswordAuthenticator, and a role made for the workbook."
    ports = {'CASSANDRA_PORT': str(free_port()), 'CASSANDRA_STORAGE_PORT': str(free_port()), 'CASSANDRA_JMX_PORT': str(free_port())}
    node = {**os.environ, **ports, 'SPEEDRUN_BUILD_DIR': str(tmp_path/'node'), 'CASSANDRA_AUTHENTICATOR': 'PasswordAuthenticator',
            'CASSANDRA_USERNAME': '', 'CASSANDRA_PASSWORD': ''}

    def script(action):
        result = subprocess.run(['bash', str(ROOT/'ci'/'cassandra.sh'), action], env=node, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stderr
    script('start')
    password = secrets.token_urlsafe(24)
    admin = Cluster(['127.0.0.1'], port=int(ports['CASSANDRA_PORT']), auth_provider=PlainTextAuthProvider('cassandra', 'cassandra'))
    admin.connect().execute(f"CREATE ROLE IF NOT EXISTS speedrun WITH PASSWORD = '{password}' AND LOGIN = true")
    admin.shutdown()
    credentials = {'CASSANDRA_USERNAME': 'speedrun', 'CASSANDRA_PASSWORD': password}
    node.update(credentials)  # from now on the readiness check logs in as the workbook's role
    try: yield {'port': int(ports['CASSANDRA_PORT']), 'env': {'CASSANDRA_PORT': ports['CASSANDRA_PORT'], **credentials}, 'script': script}
    finally: script('stop')


def test_credentials_are_needed_and_work(password_node, settings, tmp_path):
    port = password_node['port']
    with pytest.raises(NoHostAvailable, match='requires authentication'):
        Cluster(['127.0.0.1'], port=port).connect()
    with pytest.raises(NoHostAvailable, match='AuthenticationFailed|Provided username'):
        Cluster(['127.0.0.1'], port=port, auth_provider=PlainTextAuthProvider('speedrun', 'wrong-password')).connect()
    secured = replace(settings, online_store_backend='cassandra', cassandra_port=port, build_dir=tmp_path,
                      cassandra_username='speedrun', cassandra_password=password_node['env']['CASSANDRA_PASSWORD'])
    storage = open_storage(secured, call_log_ttl=1)  # the workbook's tables, through cassandra-driver
    try: check_storage_behaviour(storage, ttl_seconds=1)
    finally: storage.close()
    # and Feast's Cassandra online store with the same credentials, in a process of its own (Feast keeps its driver session until exit)
    script = ('import json; from speedrun.gcp.data import add_data_point; '
              'from speedrun.gcp.feature_store import import_data_to_feature_store, read_data_features; '
              "point = add_data_point('My phone app is overheating'); imported = import_data_to_feature_store(); "
              "print(json.dumps([point, [row['id'] for row in imported], read_data_features([point])]))")
    environment = {**os.environ, 'SPEEDRUN_BUILD_DIR': str(tmp_path), 'ONLINE_STORE_BACKEND': 'cassandra', **password_node['env']}
    done = subprocess.run([sys.executable, '-c', script], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    point, imported, online = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [point] and online == ['My phone app is overheating']


def test_cassandra_stopped_mid_run(password_node, tmp_path, save_tiny_model):
    scratch_env = {'SPEEDRUN_BUILD_DIR': str(tmp_path), 'ONLINE_STORE_BACKEND': 'cassandra', 'SPAM_MODEL_VERSIONS': 'v1', **password_node['env']}
    scratch = read_settings({**os.environ, **scratch_env})
    save_tiny_model(scratch)
    storage = open_storage(scratch); storage.create_tables(); load_sample_inboxes(storage); storage.close()
    text = f'FREE CASH, call now {uuid.uuid4().hex[:6]}'
    with start_app('speedrun.serving:create_model_serving_app', 'fault-model-api', factory=True, env=scratch_env) as model_api, \
         start_app('speedrun.user_data:create_user_data_app', 'fault-user-data-api', factory=True, env=scratch_env) as user_data_api:
        def predict(): return get(f'{model_api.url}/model/v1/text_to_prediction', method='POST', json={'text': text})
        assert predict().json()['from_cache'] is False
        wait_for(lambda: predict().json()['from_cache'] is True, 10)
        assert get(f'{user_data_api.url}/sms/fiona').status_code == 200

        password_node['script']('stop')
        down_started = time.monotonic()
        answers = [predict() for _ in range(20)]
        assert all(a.status_code == 200 and a.json()['from_cache'] is False and a.json()['top']['label'] == 'spam' for a in answers), answers[0].text
        worst_ms = max(a.elapsed.total_seconds() for a in answers) * 1000
        inbox = get(f'{user_data_api.url}/sms/fiona')
        assert inbox.status_code == 503 and 'storage is unavailable' in inbox.json()['detail'] and inbox.headers['Retry-After'], inbox.text
        write = get(f'{user_data_api.url}/sms/fiona', method='POST', json={'sender_id': 'otto', 'sms_text': 'are you there?'})
        assert write.status_code == 503, write.text

        password_node['script']('start')
        node_back = time.monotonic()
        user_data_recovered = wait_for(lambda: get(f'{user_data_api.url}/sms/fiona').status_code == 200, 60)
        cache_recovered = wait_for(lambda: predict().json()['from_cache'] is True, 60)
    print(f'\nCassandra down {node_back - down_started:.1f} s: 20 predictions answered (slowest {worst_ms:.0f} ms, none from cache); '
          f'user-data API 503 "{inbox.json()["detail"][:60]}..."; after the node was back: user-data API in {user_data_recovered:.1f} s, '
          f'cache hits again in {user_data_recovered + cache_recovered:.1f} s')


# --- Feature server and model server down ----------------------------------------------------------

def test_feature_server_down_is_said_and_nothing_half_written(settings):
    feature_server = start_feature_server(settings)
    user_data_api = start_app('speedrun.user_data:create_user_data_app', 'fault-user-data-api', factory=True)
    model_api = start_app('speedrun.serving:create_model_serving_app', 'fault-model-api', factory=True, env={'SPAM_MODEL_VERSIONS': 'v3'}, timeout=120)
    ports = {'SPEEDRUN_FEATURE_SERVER_PORT': str(feature_server.port), 'SPEEDRUN_USER_DATA_API_PORT': str(user_data_api.port), 'SPEEDRUN_MODEL_API_PORT': str(model_api.port)}
    inbox_api = start_app('speedrun.inbox:create_inbox_app', 'fault-inbox-api', factory=True, env=ports)
    proxy = start_app('speedrun.proxy:create_proxy_app', 'fault-proxy', factory=True, env=ports)
    user = f'fault-{uuid.uuid4().hex[:6]}'
    try:
        feature_server.stop()
        answer = get(f'{inbox_api.url}/sms', method='POST', json={'recipient_id': user, 'sender_id': 'nina', 'sms_text': 'Lunch on Friday?'})
        body = answer.json()
        assert answer.status_code == 503 and body['stage'] == 'push' and body['sms_id'] and 'is stored, its features are not online' in body['detail'], body
        proxied = get(f"{proxy.url}/features/{body['sms_id']}")
        assert proxied.status_code == 503 and 'unreachable' in proxied.json()['detail'], proxied.text
        stored = get(f'{user_data_api.url}/sms/{user}').json()['messages']
        assert [m['sms_id'] for m in stored] == [body['sms_id']]  # stored once, and the answer said so

        feature_server = start_feature_server(settings, port=feature_server.port)
        retried = get(f'{inbox_api.url}/sms', method='POST', json={'recipient_id': user, 'sender_id': 'nina', 'sms_text': 'Lunch on Friday?', 'sms_id': body['sms_id']})
        assert retried.status_code == 200 and retried.json()['success'], retried.text
        assert len(get(f'{user_data_api.url}/sms/{user}').json()['messages']) == 1
        assert get(f"{proxy.url}/features/{body['sms_id']}").json()['features'] == online_features2(feature_server.url, [body['sms_id']])[body['sms_id']]
    finally:
        for service in [proxy, inbox_api, model_api, user_data_api, feature_server]: service.stop()
    print(f'\nfeature server down: inbox API {answer.status_code} "{body["detail"][:90]}..."; proxy {proxied.status_code}; the retry with the sms_id completed it')


def test_model_server_down_and_back(settings, tmp_path):
    scratch = replace(settings, build_dir=tmp_path, online_store_backend='sqlite')
    point = add_data_point('My invoice was charged twice', scratch)
    import_data_to_feature_store(scratch)
    port = free_port()
    env = {'SPEEDRUN_BUILD_DIR': str(tmp_path), 'ONLINE_STORE_BACKEND': 'sqlite', 'GCP_MODEL_SERVER_PORT': str(port)}
    server = start_app('speedrun.gcp.model_server:create_model_server_app', 'fault-model-server', port=port, factory=True)
    with start_app('speedrun.gcp.ml_api:create_ml_api_app', 'fault-ml-api', factory=True, env=env) as ml_api:
        assert get(f'{ml_api.url}/predict/{point}').json()['prediction']['labels'][0] == 'billing'
        server.stop()
        down = get(f'{ml_api.url}/predict/{point}')
        assert down.status_code == 503 and 'unreachable' in down.json()['detail'], down.text
        server = start_app('speedrun.gcp.model_server:create_model_server_app', 'fault-model-server', port=port, factory=True)
        try: assert get(f'{ml_api.url}/predict/{point}').status_code == 200
        finally: server.stop()
    print(f'\nmodel server down: ML API {down.status_code} "{down.json()["detail"][:80]}"; 200 again once it was back')


# --- Pub/Sub: emulator restarted under load; poison and duplicates ---------------------------------

def ride_messages(run: str, count: int, settings) -> list[bytes]:
    trips = read_trips(settings.data_dir/'green_tripdata_2021-02.parquet').head(count)
    return [ride_message(f'{run}-{i}', trip) for i, trip in enumerate(trips.itertuples())]


@pytest.fixture
def ride_worker(settings):
    "`python -m speedrun.ride_worker` on a subscription of its own (made by the worker), deleted afterwards."
    ensure_ride_topics(settings)
    subscription = f'fault-worker-{uuid.uuid4().hex[:6]}'
    log = settings.logs_dir/'fault-ride-worker.log'
    worker = start_service([sys.executable, '-m', 'speedrun.ride_worker', '--subscription', subscription], 'fault-ride-worker', timeout=60,
                           ready=lambda: log.exists() and 'listening on' in log.read_text())
    yield worker
    worker.stop()
    subscriber = pubsub_subscriber(settings)
    try: subscriber.delete_subscription(request={'subscription': subscriber.subscription_path(settings.pubsub_project_id, subscription)})
    finally: subscriber.close()


def emulator(action):
    subprocess.run(['bash', str(ROOT/'ci'/'pubsub.sh'), action], check=True, capture_output=True, timeout=120)


def test_emulator_restarted_under_load_loses_nothing(settings, ride_worker):
    run = uuid.uuid4().hex[:6]
    messages = ride_messages(run, 4000, settings) + [f'poison {run} {i}'.encode() for i in range(20)]
    claims = Claims(settings.build_dir/'streaming'/'ride_claims.db')
    failed_publishes, restarted = 0, None
    started = time.monotonic()
    for start in range(0, len(messages), 200):  # about 2,000 messages a second, the emulator restarted a second in
        failed_publishes += publish_until_accepted(messages[start:start + 200], settings)
        if restarted is None and time.monotonic() - started > 1:
            emulator('stop'); emulator('start'); restarted = time.monotonic() - started
        time.sleep(0.1)
    settled = reconcile(messages, claims, settings, quiet_seconds=5, timeout=180)
    predicted = claims.claimed([f'{run}-{i}' for i in range(4000)])
    dead_lettered = claims.claimed(sorted({'dead-letter:' + hashlib.sha256(m).hexdigest() for m in messages[4000:]}))
    assert len(predicted) + len(dead_lettered) == len(messages) == 4020, (len(predicted), len(dead_lettered))
    assert ride_worker.running, ride_worker.log_tail()
    reconnects = ride_worker.log_path.read_text().count('reconnecting') + ride_worker.log_path.read_text().count('cannot pull yet')
    print(f'\nemulator restarted {restarted:.1f} s into the load (the worker reconnected {reconnects} times): {len(messages)} published = {len(predicted)} predicted + '
          f'{len(dead_lettered)} dead-lettered; {failed_publishes} publish attempts failed and were repeated; '
          f"{settled['resent']} messages sent again in {settled['resend_rounds']} rounds; all settled {settled['seconds']} s after publishing")


def test_poison_is_dead_lettered_once_and_a_duplicate_has_one_effect(settings, ride_worker):
    run = uuid.uuid4().hex[:6]
    subscriber = pubsub_subscriber(settings)
    watched = {name: ensure_subscription(f'fault-{name}-{run}', topic, subscriber, settings) for name, topic in
               [('predictions', PREDICTIONS_TOPIC), ('dead-letters', DEAD_LETTER_TOPIC)]}
    [ride] = ride_messages(run, 1, settings)
    poison = f'{{"ride_id": "{run}-poison", "ride": {{"PULocationID": "not a number"}}}}'.encode()
    publish_until_accepted([ride, poison, ride, poison, ride], settings)
    seen = {name: [] for name in watched}
    deadline, quiet_until = time.monotonic() + 30, None
    while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
        for name, path in watched.items():  # pull until both arrived, then 5 s more: a second copy would show
            answer = subscriber.pull(request={'subscription': path, 'max_messages': 100}, timeout=5)
            seen[name] += [m.message for m in answer.received_messages]
            if answer.received_messages:
                subscriber.acknowledge(request={'subscription': path, 'ack_ids': [m.ack_id for m in answer.received_messages]})
        if quiet_until is None and all(seen.values()): quiet_until = time.monotonic() + 5
    for path in watched.values(): subscriber.delete_subscription(request={'subscription': path})
    subscriber.close()
    mine = [m for m in seen['predictions'] if json.loads(m.data)['prediction']['ride_id'] == f'{run}-0']
    letters = [m for m in seen['dead-letters'] if m.data == poison]
    assert len(mine) == 1 and len(letters) == 1, (len(mine), len(letters))
    assert 'PULocationID' in letters[0].attributes['reason']
    print(f'\nthree copies of a ride: {len(mine)} prediction; two copies of a poison message: {len(letters)} dead letter ("{letters[0].attributes["reason"]}")')


def test_rides_held_by_a_killed_consumer_are_taken_over(settings, ride_worker):
    "The state a consumer killed mid-batch leaves: its rides taken under a lease and never settled. Nothing may be lost."
    run = uuid.uuid4().hex[:6]
    messages = ride_messages(run, 200, settings)
    claims = Claims(settings.build_dir/'streaming'/'ride_claims.db')
    held = [f'{run}-{i}' for i in range(0, 200, 2)]
    assert set(claims.take(held, lease=5).values()) == {'taken'}  # the killed consumer's lease: 5 s
    started = time.monotonic()
    publish_until_accepted(messages, settings)
    settled = reconcile(messages, claims, settings, quiet_seconds=30, timeout=60)
    seconds = time.monotonic() - started
    assert settled['resent'] == 0 and len(claims.claimed([f'{run}-{i}' for i in range(200)])) == 200
    assert seconds >= 5, 'the held rides were predicted before their lease ran out'
    print(f'\n100 of 200 rides held by a consumer that died: all 200 predicted {seconds:.1f} s after publishing (lease 5 s), none sent again')
