"""The workbook on a Cassandra cluster of three real nodes (ci/cassandra.sh on 127.0.0.1, 127.0.0.2 and 127.0.0.3, on ports of
their own): the keyspace with three replicas and every statement at LOCAL_QUORUM; one node killed while the APIs, the feature
reads and three ride consumers work, and brought back; two nodes down; three ride consumers sharing their claims in Cassandra
with duplicates, poison and one of them killed mid-batch. What is promised is checked where a reader would look (the answers,
the inbox, the predictions topic), and each test prints what it measured. `make cluster-test` runs the long versions
(SPEEDRUN_CLUSTER_OUTAGE_SECONDS, SPEEDRUN_CLUSTER_RIDES)."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
import httpx
import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy
from speedrun.kit.claims import open_claims
from speedrun.kit.cluster import CLUSTER_HOSTS as HOSTS, LocalCluster
from speedrun.kit.connections import cassandra_cluster, cassandra_session, keyspace_replication
from speedrun.kit.delivery import Reader, publish_until_accepted, reconcile
from speedrun.kit.processes import free_port
from speedrun.kit.settings import settings_environment
from speedrun.rides.messages import PREDICTIONS_TOPIC, RIDE_TOPICS, parse_ride_message
from speedrun.spam.storage import open_storage
from speedrun.spam.user_data import load_sample_inboxes
from speedrun.tools.architecture import SERVICES
from test_faults import ride_messages, wait_for  # the same helpers as the single node's fault tests

ROOT = Path(__file__).resolve().parents[1]
OUTAGE_SECONDS = float(os.environ.get('SPEEDRUN_CLUSTER_OUTAGE_SECONDS', '15'))  # one node down under load (make cluster-test: longer)
RIDES = int(os.environ.get('SPEEDRUN_CLUSTER_RIDES', '1500'))  # rides for the consumers sharing claims


def ports_in_a_row(count: int) -> int:
    "The first of `count` consecutive TCP ports free on loopback (one JMX port per node)."
    for _ in range(100):
        first = free_port()
        try:
            for port in range(first, first + count):
                with socket.socket() as probe: probe.bind(('127.0.0.1', port))
            return first
        except OSError: continue
    raise RuntimeError(f'no {count} free ports in a row')


@pytest.fixture(scope='module')
def cluster(settings, tmp_path_factory):
    "Three nodes on 127.0.0.1-3 with ports and a build folder of their own (speedrun.kit.cluster.LocalCluster); the time they took to start."
    local = LocalCluster(replace(settings, build_dir=tmp_path_factory.mktemp('cluster')), cql_port=free_port(), storage_port=free_port(),
                         jmx_port=ports_in_a_row(len(HOSTS)))
    try:
        local.start_seconds = local.start()
        yield local
    finally: local.stop()


def test_the_cluster_has_three_nodes_up_and_three_replicas(cluster):
    status = cluster.status()
    session = cassandra_session(cluster.settings)
    try:
        peers = {row.peer for row in session.execute('SELECT peer FROM system.peers')}
        replication = keyspace_replication(session)
    finally: session.cluster.shutdown()
    assert len(peers) == 2 and {str(peer) for peer in peers} <= set(HOSTS), peers  # the coordinator's two peers
    assert all(re.search(rf'^UN\s+{re.escape(host)}\s', status, re.MULTILINE) for host in HOSTS), status  # every node up and normal
    assert replication == {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'datacenter1': '3'}, replication
    memory = cluster.memory_megabytes()
    print(f'\ncluster of {len(HOSTS)} started in {cluster.start_seconds:.0f} s; resident memory per node: '
          + ', '.join(f'{host} {megabytes:.0f} MB' for host, megabytes in memory.items()) + f'; keyspace replication {replication}\n{status}')


# --- one node killed under load ----------------------------------------------------------------------------------------------

FEATURE_READER = '''
import json, sys, time
from speedrun.gcp.feature_store import open_gcp_feature_store, read_data_features
import os, pathlib
expected, stop_file, ready_file = json.loads(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
store, counts, latencies = open_gcp_feature_store(), {'reads': 0, 'failed': 0, 'wrong': 0}, []
read_data_features(list(map(int, expected)), store); ready_file.touch()  # connected and warm: the test starts its load now
while not os.path.exists(stop_file):
    started = time.monotonic()
    try: answer = read_data_features(list(map(int, expected)), store)
    except Exception as error: counts['failed'] += 1; counts['error'] = f'{type(error).__name__}: {error}'[:300]; continue
    latencies.append(time.monotonic() - started); counts['reads'] += 1
    if answer != list(expected.values()): counts['wrong'] += 1
    time.sleep(0.05)
counts['slowest_ms'] = round(max(latencies) * 1000, 1) if latencies else None
print(json.dumps(counts))
'''


class Load:
    "Callers that keep the APIs busy from threads until stopped, about 20 calls a second each, every call recorded (what, status, seconds, start); SMS written are kept."
    def __init__(self, running, recipient: str):
        self.running, self.recipient, self.calls, self.written, self.stopping = running, recipient, [], [], threading.Event()
        self.threads = [threading.Thread(target=loop, daemon=True) for loop in (self.predict, self.write_sms, self.read_inbox)]
    def call(self, what: str, method: str, url: str, **options) -> httpx.Response | None:
        started = time.monotonic()
        try: answer = httpx.request(method, url, trust_env=False, timeout=30, **options)
        except httpx.HTTPError as error: self.calls.append((what, type(error).__name__, time.monotonic() - started, started)); return None
        self.calls.append((what, answer.status_code, time.monotonic() - started, started))
        return answer
    def predict(self):
        api, count = self.running.url('model-serving-api'), 0
        while not self.stopping.is_set():
            count += 1  # one text in three new (a cache miss and a call-log write), the others cached
            text = f'FREE CASH, call now {uuid.uuid4().hex[:6]}' if count % 3 == 0 else f'see you at lunch {count % 7}'
            self.call('prediction', 'POST', f'{api}/model/v1/text_to_prediction', json={'text': text}); time.sleep(0.05)
    def write_sms(self):
        api, count = self.running.url('user-data-api'), 0
        while not self.stopping.is_set():
            text = f'message {count} to {self.recipient}'; count += 1
            answer = self.call('inbox write', 'POST', f'{api}/sms/{self.recipient}', json={'sender_id': 'nina', 'sms_text': text})
            if answer is not None and answer.status_code == 201: self.written.append((time.monotonic(), text))
            time.sleep(0.05)
    def read_inbox(self):
        api = self.running.url('user-data-api')
        while not self.stopping.is_set():
            self.call('inbox read', 'GET', f'{api}/sms/{self.recipient}'); time.sleep(0.05)
    def __enter__(self):
        for thread in self.threads: thread.start()
        return self
    def __exit__(self, *exc_info):
        self.stopping.set()
        for thread in self.threads: thread.join(60)
    def failures(self) -> list:
        return [call for call in self.calls if call[1] not in (200, 201)]


@pytest.fixture(scope='module')
def workbook_on_cluster(cluster, save_tiny_model, save_small_ride_model):
    "The model-serving and user-data APIs and three ride-worker processes (one subscription of their own) on the cluster; data points imported online."
    scratch = replace(cluster.settings, spam_model_versions=('v1',))
    save_tiny_model(scratch); save_small_ride_model(scratch)
    storage = open_storage(scratch); storage.create_tables(); load_sample_inboxes(storage); storage.close()
    texts = [f'data point {i}: my phone app keeps crashing' for i in range(20)]
    script = ('import json, sys; from speedrun.gcp.data import add_data_point; from speedrun.gcp.feature_store import import_data_to_feature_store; '
              'points = {add_data_point(text): text for text in json.loads(sys.argv[1])}; import_data_to_feature_store(); print(json.dumps(points))')
    environment = {**os.environ, **settings_environment(scratch)}
    done = subprocess.run([sys.executable, '-c', script, json.dumps(texts)], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    points = json.loads(done.stdout.strip().splitlines()[-1])
    open_claims(scratch, 'ride_claims').close()  # the schema first, as a deployment makes it: three workers starting at once would race to make the table
    subscription = f'cluster-rides-{uuid.uuid4().hex[:6]}'
    running = SERVICES.start('model-serving-api', 'user-data-api', 'ride-worker', settings=scratch, log_prefix='cluster-',
                             options={'ride-worker': {'copies': 3, 'arguments': ('--subscription', subscription)}})
    try: yield SimpleNamespace(settings=scratch, running=running, points=points, environment=environment, subscription=subscription)
    finally: running.stop()


def node_alone(settings, host: str):
    "A session that asks `host` only, at consistency ONE: what that node itself holds."
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]), consistency_level=ConsistencyLevel.ONE)
    session = cassandra_cluster(replace(settings, cassandra_hosts=(host,)), execution_profiles={EXEC_PROFILE_DEFAULT: profile}).connect(settings.cassandra_keyspace)
    return session


def test_a_node_killed_under_load_fails_no_request_and_loses_nothing(cluster, workbook_on_cluster):
    workbook, run = workbook_on_cluster, uuid.uuid4().hex[:6]
    recipient, lost_node = f'cluster-{run}', HOSTS[2]
    rides = ride_messages(run, 600, workbook.settings)
    reader = Reader(workbook.settings, [PREDICTIONS_TOPIC, RIDE_TOPICS.dead_letter], label='cluster-rides')
    stop_file, ready_file = workbook.settings.build_dir/f'stop-{run}', workbook.settings.build_dir/f'ready-{run}'
    reading = ThreadPoolExecutor(1).submit(subprocess.run, [sys.executable, '-c', FEATURE_READER, json.dumps(workbook.points), str(stop_file), str(ready_file)],
                                           env=workbook.environment, capture_output=True, text=True, timeout=600)  # a client process, not a service
    wait_for(lambda: ready_file.exists() or reading.done(), 180)
    assert not reading.done(), reading.result().stderr[-3000:]
    try:
        with Load(workbook.running, recipient) as load:
            publish_until_accepted(rides[:200], RIDE_TOPICS, workbook.settings)
            time.sleep(3)
            killed_at = time.monotonic()
            cluster.kill_node(lost_node)
            publish_until_accepted(rides[200:400], RIDE_TOPICS, workbook.settings)
            time.sleep(OUTAGE_SECONDS)
            back_started = time.monotonic()
            cluster.start()  # starts the missing node and waits until every node sees every other up
            node_back = time.monotonic()
            publish_until_accepted(rides[400:], RIDE_TOPICS, workbook.settings)
            time.sleep(3)
        stop_file.touch()
        feature_reader = reading.result(timeout=120)
        ride_ids = {m: parse_ride_message(m)[0] for m in rides}
        def unsettled(batch):
            done = {json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC)}
            return [m for m in batch if ride_ids[m] not in done]
        settled = reconcile(rides, unsettled, lambda batch: publish_until_accepted(batch, RIDE_TOPICS, workbook.settings), quiet_seconds=5, timeout=120)
        reader.quiet_for(3)
    finally: stop_file.touch(); reader.stop()
    out = feature_reader.stdout.strip()
    feature_reads = json.loads(out.splitlines()[-1]) if out else {'error': feature_reader.stderr[-2000:]}
    during = [call for call in load.calls if killed_at <= call[3] <= node_back]
    assert load.failures() == [], Counter((what, status) for what, status, *_ in load.failures())
    assert feature_reads.get('failed') == 0 and feature_reads.get('wrong') == 0 and feature_reads['reads'] > 0, feature_reads
    predicted = Counter(json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC))
    ours = {ride_id: count for ride_id, count in predicted.items() if ride_id.startswith(run)}
    assert set(ours) == set(ride_ids.values()) and set(ours.values()) == {1}, Counter(ours.values())
    storage = open_storage(workbook.settings)
    try: inbox = Counter(message['sms_text'] for message in storage.user_sms(recipient, limit=100_000))
    finally: storage.close()
    written = [text for _, text in load.written]
    assert inbox == Counter(written), (len(inbox), len(written))  # every message written is there, once
    # the node that was down caught up by hints: alone, at consistency ONE, it has what was written while it was away
    missed = [text for at, text in load.written if killed_at <= at <= back_started]
    alone = node_alone(workbook.settings, lost_node)
    try:
        rows = lambda: {row.sms_text for row in alone.execute('SELECT sms_text FROM smss_by_users WHERE user_id = %s', (recipient,))}
        caught_up = wait_for(lambda: set(missed) <= rows(), 120, step=1)
    finally: alone.cluster.shutdown()
    print(f'\nnode {lost_node} killed under load for {back_started - killed_at:.1f} s, back (all three up) {node_back - back_started:.1f} s after its start: '
          f'{len(during)} API calls during the outage ({Counter(c[0] for c in during)}), {len(load.calls)} in all, failed {len(load.failures())}, '
          f'slowest {max((c[2] for c in during), default=0) * 1000:.0f} ms; feature reads {feature_reads}; '
          f'{len(written)} SMS written, lost 0, duplicated 0; {len(missed)} written while it was down were on the returned node '
          f'{caught_up:.1f} s after it was up (hints); {len(ours)} rides predicted once each by {sorted(set(m.attributes.get("consumer") for m in reader.messages(PREDICTIONS_TOPIC)))}, '
          f"{settled['resent']} sent again")


def test_two_nodes_down_is_a_clear_503_and_never_a_wrong_answer(cluster, workbook_on_cluster):
    running = workbook_on_cluster.running
    user_data, model_api = running.url('user-data-api'), running.url('model-serving-api')
    for host in HOSTS[1:]: cluster.kill_node(host)
    try:
        inbox = httpx.get(f'{user_data}/sms/fiona', trust_env=False, timeout=60)
        write = httpx.post(f'{user_data}/sms/fiona', json={'sender_id': 'otto', 'sms_text': 'anyone there?'}, trust_env=False, timeout=60)
        prediction = httpx.post(f'{model_api}/model/v1/text_to_prediction', json={'text': 'WIN a FREE delivery, call 800-884433 now'}, trust_env=False, timeout=60)
    finally:
        back = cluster.start()
    assert inbox.status_code == 503 and 'LOCAL_QUORUM' in inbox.json()['detail'] and inbox.headers['Retry-After'], inbox.text
    assert write.status_code == 503 and 'LOCAL_QUORUM' in write.json()['detail'], write.text
    assert prediction.status_code == 200 and prediction.json()['top']['label'] == 'spam' and prediction.json()['from_cache'] is False, prediction.text
    recovered = wait_for(lambda: httpx.get(f'{user_data}/sms/fiona', trust_env=False, timeout=30).status_code == 200, 60)
    print(f'\ntwo of three nodes down: inbox read {inbox.status_code} "{inbox.json()["detail"][:120]}...", inbox write {write.status_code}, '
          f'prediction 200 ({prediction.json()["top"]["label"]}, not from the cache); both nodes back in {back:.1f} s, inbox 200 again {recovered:.1f} s later')


# --- several consumers sharing claims in Cassandra ---------------------------------------------------------------------------

def test_consumers_sharing_claims_predict_once_with_one_killed_mid_batch(cluster, workbook_on_cluster):
    workbook, run = workbook_on_cluster, uuid.uuid4().hex[:6]
    running = workbook.running
    rides = ride_messages(run, RIDES, workbook.settings)
    duplicates = rides[::10]
    poison = [f'poison {run} {i}'.encode() for i in range(20)]
    messages = rides + duplicates + poison
    reader = Reader(workbook.settings, [PREDICTIONS_TOPIC, RIDE_TOPICS.dead_letter], label='cluster-claims')
    ride_ids = {m: parse_ride_message(m)[0] for m in rides}
    def predicted() -> Counter: return Counter(json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC))
    def dead_lettered() -> Counter: return Counter(m.data for m in reader.messages(RIDE_TOPICS.dead_letter))
    def unsettled(batch):
        done, letters = predicted(), dead_lettered()
        return [m for m in batch if not letters[m] and not (m in ride_ids and done[ride_ids[m]])]
    victim = running['ride-worker-2']
    try:
        for start in range(0, len(messages), 100):
            publish_until_accepted(messages[start:start + 100], RIDE_TOPICS, workbook.settings)
            if start == 300: os.killpg(victim.process.pid, signal.SIGKILL); killed_at = time.monotonic()
        settled = reconcile(messages, unsettled, lambda batch: publish_until_accepted(batch, RIDE_TOPICS, workbook.settings), quiet_seconds=35, timeout=240)
        reader.quiet_for(3)
    finally: reader.stop()
    ours, letters = Counter({k: v for k, v in predicted().items() if k.startswith(run)}), dead_lettered()
    consumers = Counter(m.attributes.get('consumer') for m in reader.messages(PREDICTIONS_TOPIC) if json.loads(m.data)['prediction']['ride_id'].startswith(run))
    assert set(ours) == set(ride_ids.values()) and set(ours.values()) == {1}, Counter(ours.values())  # every ride once, none twice
    assert {m: letters[m] for m in poison} == {m: 1 for m in poison}
    assert sum(ours.values()) + sum(letters[m] for m in poison) == len(set(messages))  # published (distinct) = predicted + dead-lettered
    assert not victim.running and len(consumers) >= 2, consumers
    print(f'\n{len(messages)} published ({len(rides)} rides, {len(duplicates)} of them twice, {len(poison)} poison) to three ride-worker processes '
          f"sharing claims in Cassandra, ride-worker-2 killed with SIGKILL mid-stream: {len(ours)} predicted once each, {len(poison)} dead-lettered once "
          f"each, 0 duplicates; by consumer {dict(consumers)}; {settled['resent']} sent again; all settled {settled['seconds']} s after publishing")
