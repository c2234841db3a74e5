"""The workbook on a Cassandra cluster of three real nodes (ci/cassandra.sh on 127.0.0.1, 127.0.0.2 and 127.0.0.3, on the ports of
speedrun.kit.cluster.LocalCluster): chapter 09 end to end first, which starts the nodes the tests below then use; the keyspace with three replicas and every statement at LOCAL_QUORUM; one node killed while the APIs, the feature
reads and three ride consumers work, and brought back; three ride consumers sharing their claims in Cassandra
with duplicates, poison and one of them killed mid-batch (the drills of speedrun.tools.cluster_drills, as the chapter runs them,
here larger and with more watched). Two nodes down is checked by the chapter's own check cell (three 503s naming LOCAL_QUORUM
where a quorum is needed, the prediction answered and not from the cache), on this same cluster, once. What is promised is checked where a reader would look (the answers,
the inbox, the predictions topic), and each test prints what it measured. `make cluster-test` runs the long versions
(SPEEDRUN_CLUSTER_OUTAGE_SECONDS, SPEEDRUN_CLUSTER_RIDES)."""
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
import pytest
from speedrun.kit.claims import open_claims
from speedrun.kit.cluster import CLUSTER_HOSTS as HOSTS, LocalCluster
from speedrun.kit.connections import cassandra_session, keyspace_replication
from speedrun.kit.delivery import Reader, publish_until_accepted, reconcile
from speedrun.kit.processes import wait_for
from speedrun.kit.settings import settings_environment
from speedrun.rides.messages import PREDICTIONS_TOPIC, RIDE_TOPICS, parse_ride_message
from speedrun.spam.storage import open_storage
from speedrun.spam.user_data import load_sample_inboxes
from speedrun.tools.architecture import SERVICES
from speedrun.tools.chapters import run_chapter
from speedrun.tools.cluster_drills import lose_a_node, ride_messages, share_claims

ROOT = Path(__file__).resolve().parents[1]
OUTAGE_SECONDS = float(os.environ.get('SPEEDRUN_CLUSTER_OUTAGE_SECONDS', '15'))  # one node down under load (make cluster-test: longer)
RIDES = int(os.environ.get('SPEEDRUN_CLUSTER_RIDES', '600'))  # rides for the consumers sharing claims (make cluster-test: 10,000)


CHAPTER = ROOT/'chapters'/'09_2022.ipynb'
CHAPTER_QUICK = {'outage_seconds': 8, 'claim_rides': 300, 'rate_rides': 300, 'consumer_counts': [1, 3], 'consistency_reads': 100,
                 'keep_cluster': True}  # the cluster stays for the tests below (the fixture stops it)


@pytest.fixture(scope='module')
def cluster(settings, tmp_path_factory, save_tiny_model, save_small_ride_model):
    """Three nodes on 127.0.0.1-3 (speedrun.kit.cluster.LocalCluster's ports) for a workbook of their own: a build folder with a small
    spam model v1 and ride model in it, the models chapter 09 serves. Not started here: chapter 09 starts it, else the first test that
    needs it (`started_cluster`); stopped at the end, whoever started it."""
    seeded = replace(settings, build_dir=tmp_path_factory.mktemp('cluster'))
    save_tiny_model(seeded); save_small_ride_model(seeded)
    local = LocalCluster(seeded)
    local.start_seconds = None
    try: yield local
    finally: local.stop()


@pytest.fixture(scope='module')
def started_cluster(cluster):
    seconds = cluster.start()
    if cluster.start_seconds is None: cluster.start_seconds = seconds
    return cluster


def test_chapter_09_runs_on_the_cluster(cluster, chapters_executed_dir, monkeypatch):
    "Chapter 09 end to end through papermill, on the cluster's workbook: it starts the three nodes itself; its copy goes where the book looks."
    monkeypatch.setenv('SPEEDRUN_BUILD_DIR', str(cluster.settings.build_dir))
    run = run_chapter(CHAPTER, CHAPTER_QUICK)
    cells = [c for c in json.loads(run.executed.read_text())['cells'] if c['cell_type'] == 'code']
    assert not [i for i, c in enumerate(cells) if c.get('execution_count') is None and c['source']]
    chapters_executed_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(run.executed, chapters_executed_dir/CHAPTER.name)
    printed = '\n'.join(''.join(o.get('text', '')) for c in cells for o in c.get('outputs', []) if o.get('name') == 'stdout')
    started = re.search(r'(\d+) nodes ready in (\d+) s', printed)
    assert started, printed[:2000]
    cluster.start_seconds = float(started.group(2))
    print(f"\nchapter 09 ran in {json.loads(run.executed.read_text())['metadata']['papermill']['duration']:.0f} s; {printed[:1500]}")


def test_the_cluster_has_three_nodes_up_and_three_replicas(started_cluster):
    cluster = started_cluster
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


@pytest.fixture(scope='module')
def workbook_on_cluster(started_cluster):
    "The model-serving and user-data APIs and three ride-worker processes (one subscription of their own) on the cluster; data points imported online."
    scratch = replace(started_cluster.settings, spam_model_versions=('v1',))
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


def test_a_node_killed_under_load_fails_no_request_and_loses_nothing(started_cluster, workbook_on_cluster):
    workbook, run = workbook_on_cluster, uuid.uuid4().hex[:6]
    rides = ride_messages(run, 600, workbook.settings)
    reader = Reader(workbook.settings, [PREDICTIONS_TOPIC, RIDE_TOPICS.dead_letter], label='cluster-rides')
    stop_file, ready_file = workbook.settings.build_dir/f'stop-{run}', workbook.settings.build_dir/f'ready-{run}'
    reading = ThreadPoolExecutor(1).submit(subprocess.run, [sys.executable, '-c', FEATURE_READER, json.dumps(workbook.points), str(stop_file), str(ready_file)],
                                           env=workbook.environment, capture_output=True, text=True, timeout=600)  # a client process, not a service
    wait_for(lambda: ready_file.exists() or reading.done(), 180)
    assert not reading.done(), reading.result().stderr[-3000:]
    publish = lambda batch: publish_until_accepted(batch, RIDE_TOPICS, workbook.settings)
    try:
        # the APIs under load (speedrun.tools.cluster_drills.ApiLoad), rides published before, during and after the outage
        loss = lose_a_node(started_cluster, workbook.running, HOSTS[2], OUTAGE_SECONDS, recipient=f'cluster-{run}',
                           before=lambda: publish(rides[:200]), while_down=lambda: publish(rides[200:400]), after_back=lambda: publish(rides[400:]))
        stop_file.touch()
        feature_reader = reading.result(timeout=120)
        ride_ids = {m: parse_ride_message(m)[0] for m in rides}
        def unsettled(batch):
            done = {json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC)}
            return [m for m in batch if ride_ids[m] not in done]
        settled = reconcile(rides, unsettled, publish, quiet_seconds=5, timeout=120)
        reader.quiet_for(3)
    finally: stop_file.touch(); reader.stop()
    out = feature_reader.stdout.strip()
    feature_reads = json.loads(out.splitlines()[-1]) if out else {'error': feature_reader.stderr[-2000:]}
    summary = loss.summary()
    assert loss.load.failures() == [], Counter((what, status) for what, status, *_ in loss.load.failures())
    assert summary['calls during the outage'] > 0 and summary['written while it was down'] > 0, summary
    assert loss.inbox_intact, summary  # every SMS the API accepted is in the inbox, once
    # (lose_a_node waited until the returned node, alone at consistency ONE, held what was written while it was away: hints)
    assert feature_reads.get('failed') == 0 and feature_reads.get('wrong') == 0 and feature_reads['reads'] > 0, feature_reads
    predicted = Counter(json.loads(m.data)['prediction']['ride_id'] for m in reader.messages(PREDICTIONS_TOPIC))
    ours = {ride_id: count for ride_id, count in predicted.items() if ride_id.startswith(run)}
    assert set(ours) == set(ride_ids.values()) and set(ours.values()) == {1}, Counter(ours.values())
    consumers = sorted(set(m.attributes.get('consumer') for m in reader.messages(PREDICTIONS_TOPIC)))
    print(f'\none node killed under load: {summary}; feature reads {feature_reads}; {len(ours)} rides predicted once each by {consumers}, '
          f"{settled['resent']} sent again")


# --- several consumers sharing claims in Cassandra ---------------------------------------------------------------------------

def test_consumers_sharing_claims_predict_once_with_one_killed_mid_batch(started_cluster, workbook_on_cluster):
    running = workbook_on_cluster.running
    drill = share_claims(workbook_on_cluster.settings, running, RIDES, duplicate_every=10, poison=20, kill=True, kill_after=400)
    summary = drill.summary()
    assert set(drill.predicted) == set(drill.rides), len(set(drill.rides) - set(drill.predicted))  # every ride predicted
    assert summary['predicted twice by live workers'] == 0, drill.duplicates()  # a second prediction only of what the killed worker published and had not settled
    assert {m: drill.dead_lettered[m] for m in drill.poison} == {m: 1 for m in drill.poison}
    assert len(drill.predicted) + sum(drill.dead_lettered[m] for m in drill.poison) == drill.published  # published (distinct) = predicted + dead-lettered
    assert not running[drill.killed].running and drill.by_consumer[drill.killed] > 0 and len(drill.by_consumer) >= 2, drill.by_consumer  # it died mid-stream
    print(f'\n{RIDES} rides (one in ten twice) and {len(drill.poison)} poison to three ride-worker processes sharing claims in Cassandra, '
          f'{drill.killed} killed with SIGKILL mid-stream: {summary}; by consumer {dict(drill.by_consumer)}')
