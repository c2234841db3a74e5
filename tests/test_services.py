"""The local services that ci/test.sh starts, the one call that starts the architecture, and the ci/ scripts' answers to a broken environment."""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
import pytest
from speedrun.kit.connections import cassandra_release_version, ensure_topic, pubsub_publisher
from speedrun.kit.processes import port_is_open
from speedrun.tools.architecture import SERVICES

ROOT = Path(__file__).resolve().parents[1]


def test_cassandra_node_answers_release_5_0(settings):
    assert cassandra_release_version(settings).startswith('5.0.')


def test_emulator_answers_a_create_topic_call(settings):
    publisher = pubsub_publisher(settings)
    topic = ensure_topic(f'test-{uuid.uuid4().hex[:8]}', publisher, settings)
    listed = [t.name for t in publisher.list_topics(request={'project': f'projects/{settings.pubsub_project_id}'})]
    assert topic in listed


def test_a_service_started_by_the_registry_leaves_nothing_behind(settings):
    with SERVICES.start('home', settings=settings, log_prefix='test-') as running:
        port, pid = running['home'].port, running['home'].process.pid
        assert port_is_open(settings.host, port)
    assert not port_is_open(settings.host, port)
    assert subprocess.run(['pgrep', '-g', str(pid)], capture_output=True).returncode == 1, 'a process of the group survived'


@pytest.fixture(scope='module')
def small_ride_model(settings, tmp_path_factory, save_small_ride_model):
    "Settings with a scratch build folder holding a small ride model."
    from dataclasses import replace
    scratch = replace(settings, build_dir=tmp_path_factory.mktemp('rides'))
    save_small_ride_model(scratch)
    return scratch


@pytest.mark.parametrize('signal_name', ['SIGINT', 'SIGTERM', 'SIGHUP'])
def test_a_worker_stops_on_each_signal(small_ride_model, signal_name):
    "A worker (the ride worker, on its own subscription) leaves by itself on Ctrl-C, SIGTERM and SIGHUP, once it was pulling."
    running = SERVICES.start('ride-worker', settings=small_ride_model, log_prefix=f'test-{signal_name}-',
                             options={'ride-worker': {'arguments': ('--subscription', f'test-signal-{uuid.uuid4().hex[:6]}')}})
    process = running['ride-worker'].process
    os.kill(process.pid, getattr(signal, signal_name))
    assert process.wait(timeout=20) == 0
    running.stop()


def run_script(script, *args, env=None, tmp_path):
    "Run a ci/ script with its own build folder, so the services of this test run are not touched."
    environment = {**os.environ, 'SPEEDRUN_BUILD_DIR': str(tmp_path), **(env or {})}
    return subprocess.run(['bash', str(ROOT/'ci'/script), *args], capture_output=True, text=True, env=environment, timeout=60)


def test_emulator_port_already_taken_is_named(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(('127.0.0.1', 0)); squatter.listen()
        port = squatter.getsockname()[1]
        result = run_script('pubsub.sh', 'start', env={'PUBSUB_EMULATOR_HOST': f'127.0.0.1:{port}'}, tmp_path=tmp_path)
    assert result.returncode == 1
    assert f'port 127.0.0.1:{port} is already taken by pid {os.getpid()}' in result.stderr
    assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('script', ['pubsub.sh', 'cassandra.sh'])
def test_missing_java_is_named(script, tmp_path):
    shims = tmp_path/'bin'; shims.mkdir()
    for folder in os.environ['PATH'].split(os.pathsep):  # every command on PATH but java
        for command in (Path(folder).iterdir() if Path(folder).is_dir() else []):
            if command.name != 'java' and not (shims/command.name).exists():
                (shims/command.name).symlink_to(command)
    result = run_script(script, 'start', env={'PATH': str(shims), 'SPEEDRUN_CASSANDRA_PORT': '1', 'PUBSUB_EMULATOR_HOST': '127.0.0.1:1'}, tmp_path=tmp_path)
    assert result.returncode == 1 and "'java' is not installed or not on PATH" in result.stderr, result.stderr


def test_caller_identity_over_uvicorn(settings, tmp_path, save_tiny_model):
    """Over a real uvicorn server, not an in-process client: X-Forwarded-For from an untrusted peer is
    ignored (uvicorn's own proxy headers are off), from a trusted proxy (here 127.0.0.2) honoured."""
    import httpx
    from dataclasses import replace
    served = replace(settings, build_dir=tmp_path, online_store_backend='sqlite', spam_model_versions=('v1',), trusted_proxies=('127.0.0.2',))
    save_tiny_model(served)
    from speedrun.spam.storage import open_storage
    storage = open_storage(served); storage.create_tables(); storage.close()  # the cache and call log, as chapter 01 makes them
    marker = f'spoof test {uuid.uuid4().hex[:8]}'
    with SERVICES.start('model-serving-api', settings=served, log_prefix='caller-') as running:
        url = running.url('model-serving-api')
        direct = httpx.Client(base_url=url, trust_env=False, timeout=30)
        via_proxy = httpx.Client(base_url=url, trust_env=False, timeout=30, transport=httpx.HTTPTransport(local_address='127.0.0.2'))
        spoofed = {'X-Forwarded-For': '10.0.0.1'}
        # the trusted proxy speaks for 10.0.0.1: the call is logged as 10.0.0.1's
        assert via_proxy.post('/model/v1/text_to_prediction', json={'text': marker}, headers=spoofed).status_code == 200
        time.sleep(0.5)  # the entry is queued by a background task after the answer (recent_call_log writes what is queued before it reads)
        as_proxied_caller = via_proxy.get('/model/v1/recent_call_log', headers=spoofed)
        # an untrusted loopback peer claiming to be 10.0.0.1 is still 127.0.0.1: it sees none of 10.0.0.1's calls
        as_spoofer = direct.get('/model/v1/recent_call_log', headers=spoofed)
        # and the trusted proxy itself, without the header, is 127.0.0.2, not 10.0.0.1
        as_proxy_itself = via_proxy.get('/model/v1/recent_call_log')
    assert (as_proxied_caller.status_code, as_spoofer.status_code, as_proxy_itself.status_code) == (200, 200, 200)
    assert marker in as_proxied_caller.text, as_proxied_caller.text[:500]
    assert marker not in as_spoofer.text, as_spoofer.text[:500]
    assert marker not in as_proxy_itself.text, as_proxy_itself.text[:500]


@pytest.mark.parametrize('backend', ['sqlite', 'cassandra'])
def test_a_clean_stop_writes_every_answered_call(settings, tmp_path, save_tiny_model, backend):
    """The call log is written behind the answers (speedrun.kit.storage.WriteBehind): a server stopped by SIGTERM
    right after a burst of requests still writes the entry of every request it answered."""
    import httpx
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace
    from speedrun.spam.storage import open_storage
    # entries gathered for 2 s: at the stop, the last answers' entries are surely still queued
    served = replace(settings, build_dir=tmp_path, online_store_backend=backend, spam_model_versions=('v1',), trusted_proxies=('127.0.0.1',),
                     call_log_write_ms=2000)
    save_tiny_model(served)
    storage = open_storage(served); storage.create_tables()
    marker = f'burst {uuid.uuid4().hex[:8]}'
    caller = {'X-Forwarded-For': f'198.51.100.{uuid.uuid4().int % 250}'}  # the caller's own log partition, whatever other tests log meanwhile
    with SERVICES.start('model-serving-api', settings=served, log_prefix=f'burst-{backend}-') as running:
        url = running.url('model-serving-api')
        def ask(i):
            with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
                return sum(client.post('/model/v1/text_to_prediction', json={'text': f'{marker} {i}-{j}', 'skip_cache': j % 2 == 0},
                                       headers=caller).status_code == 200 for j in range(50))
        with ThreadPoolExecutor(4) as pool: answered = sum(pool.map(ask, range(4)))
        running.stop()  # SIGTERM at once: entries of the last answers are still queued
    logged = [call for call in storage.recent_calls(caller['X-Forwarded-For'], 'v1', limit=1000) if marker in call['input_json']]
    storage.close()
    assert answered == 200 and len(logged) == answered, (answered, len(logged))
    assert len({call['input_json'] for call in logged}) == answered  # each call once
