"""A Cassandra node that wants credentials (PasswordAuthenticator), on ports and a folder of its own: anonymous and wrong
logins refused, the workbook's tables and Feast's online store working with the right ones; then the node stopped while the
model-serving and user-data APIs answer, and started again. Nothing here needs what the chapters build (a tiny model of its
own), so it runs in the independent group, beside the chapters (conftest.py). The other faults are in test_faults.py."""
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
from speedrun.kit.processes import free_port, wait_for
from speedrun.kit.settings import settings_environment
from speedrun.spam.storage import check_storage_behaviour, open_storage
from speedrun.spam.user_data import load_sample_inboxes
from speedrun.tools.architecture import SERVICES

from test_faults import get

ROOT = Path(__file__).resolve().parents[1]


# --- Cassandra: a node that wants credentials, stopped mid-run --------------------------------------

@pytest.fixture
def password_node(tmp_path, settings):
    "A second Cassandra node (its own ports and folder) with PasswordAuthenticator, and a role made for the workbook."
    port = free_port()
    anonymous = replace(settings, online_store_backend='cassandra', cassandra_port=port, build_dir=tmp_path/'node', cassandra_username=None, cassandra_password=None)
    # the node's settings, and the ones only ci/cassandra.sh reads (they have no field: see speedrun.kit.settings_table)
    node = {**os.environ, **settings_environment(anonymous), 'SPEEDRUN_CASSANDRA_STORAGE_PORT': str(free_port()),
            'SPEEDRUN_CASSANDRA_JMX_PORT': str(free_port()), 'SPEEDRUN_CASSANDRA_AUTHENTICATOR': 'PasswordAuthenticator'}

    def script(action):
        result = subprocess.run(['bash', str(ROOT/'ci'/'cassandra.sh'), action], env=node, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stderr
    script('start')
    password = secrets.token_urlsafe(24)
    admin = Cluster(['127.0.0.1'], port=port, auth_provider=PlainTextAuthProvider('cassandra', 'cassandra'))
    admin.connect().execute(f"CREATE ROLE IF NOT EXISTS speedrun WITH PASSWORD = '{password}' AND LOGIN = true")
    admin.shutdown()
    secured = replace(anonymous, build_dir=tmp_path, cassandra_username='speedrun', cassandra_password=password)
    node.update(settings_environment(replace(secured, build_dir=anonymous.build_dir)))  # from now on the readiness check logs in as the workbook's role
    try: yield {'port': port, 'settings': secured, 'script': script}
    finally: script('stop')


def test_credentials_are_needed_and_work(password_node):
    port, secured = password_node['port'], password_node['settings']
    with pytest.raises(NoHostAvailable, match='requires authentication'):
        Cluster(['127.0.0.1'], port=port).connect()
    with pytest.raises(NoHostAvailable, match='AuthenticationFailed|Provided username'):
        Cluster(['127.0.0.1'], port=port, auth_provider=PlainTextAuthProvider('speedrun', 'wrong-password')).connect()
    storage = open_storage(secured, call_log_ttl=3)  # the workbook's tables, through cassandra-driver
    try: check_storage_behaviour(storage, ttl_seconds=3)  # a fresh node answers its first statements slowly: the log must outlive them
    finally: storage.close()
    # and Feast's Cassandra online store with the same credentials, in a process of its own (Feast keeps its driver session until exit)
    script = ('import json; from speedrun.gcp.data import add_data_point; '
              'from speedrun.gcp.feature_store import import_data_to_feature_store, read_data_features; '
              "point = add_data_point('My phone app is overheating'); imported = import_data_to_feature_store(); "
              "print(json.dumps([point, [row['data_point_id'] for row in imported], read_data_features([point])]))")
    done = subprocess.run([sys.executable, '-c', script], env={**os.environ, **settings_environment(secured)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    point, imported, online = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [point] and online == ['My phone app is overheating']


def test_cassandra_stopped_mid_run(password_node, save_tiny_model):
    scratch = replace(password_node['settings'], spam_model_versions=('v1',))
    save_tiny_model(scratch)
    storage = open_storage(scratch); storage.create_tables(); load_sample_inboxes(storage); storage.close()
    text = f'FREE CASH, call now {uuid.uuid4().hex[:6]}'
    with SERVICES.start('model-serving-api', 'user-data-api', settings=scratch, log_prefix='fault-') as running:
        model_api, user_data_api = running.url('model-serving-api'), running.url('user-data-api')
        def predict(): return get(f'{model_api}/model/v1/text_to_prediction', method='POST', json={'text': text})
        assert predict().json()['from_cache'] is False
        wait_for(lambda: predict().json()['from_cache'] is True, 10)
        assert get(f'{user_data_api}/sms/fiona').status_code == 200

        password_node['script']('stop')
        down_started = time.monotonic()
        answers = [predict() for _ in range(20)]
        assert all(a.status_code == 200 and a.json()['top']['label'] == 'spam' for a in answers), answers[0].text
        # the cache cannot be read: the answer given before comes from the worker's memory, and a new text is computed once,
        # then remembered
        assert [a.json()['from_cache'] for a in answers] == [True] * 20, [a.json()['from_cache'] for a in answers]
        new_text = f'WIN a FREE prize {uuid.uuid4().hex[:6]}'
        new_answers = [get(f'{model_api}/model/v1/text_to_prediction', method='POST', json={'text': new_text}) for _ in range(3)]
        assert [(a.status_code, a.json()['from_cache']) for a in new_answers] == [(200, False), (200, True), (200, True)], new_answers[0].text
        worst_ms = max(a.elapsed.total_seconds() for a in answers) * 1000
        inbox = get(f'{user_data_api}/sms/fiona')
        assert inbox.status_code == 503 and 'storage is unavailable' in inbox.json()['detail'] and inbox.headers['Retry-After'], inbox.text
        write = get(f'{user_data_api}/sms/fiona', method='POST', json={'sender_id': 'otto', 'sms_text': 'are you there?'})
        assert write.status_code == 503, write.text

        password_node['script']('start')
        node_back = time.monotonic()
        user_data_recovered = wait_for(lambda: get(f'{user_data_api}/sms/fiona').status_code == 200, 60)
        # the queued writes reach the node once it is back: the 20 calls of the outage are in the call log, none lost
        def outage_calls_logged():
            calls = get(f'{model_api}/model/v1/recent_call_log', params={'limit': 100})
            return isinstance(calls, httpx.Response) and calls.status_code == 200 and sum(json.loads(c['input_json']) == text for c in calls.json()) >= 22
        log_recovered = wait_for(outage_calls_logged, 60)
    print(f'\nCassandra down {node_back - down_started:.1f} s: 20 predictions answered (slowest {worst_ms:.0f} ms, '
          f'from the worker\'s memory; a new text computed once, then remembered); user-data API 503 "{inbox.json()["detail"][:60]}..."; after the node was back: '
          f'user-data API in {user_data_recovered:.1f} s, every call of the outage in the call log {user_data_recovered + log_recovered:.1f} s after')
