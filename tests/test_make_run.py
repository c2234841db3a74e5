"""`make run` as a reader runs it: two services that need no model (in the independent group, beside the chapters) for the signals
GNU make does not pass on (SIGHUP, SIGINT), for a signal in the middle of the start-up, and for the refusal of a second
`make run`. The signal goes to the `make` process only; every process below it (recorded before the signal) must be
gone, and every port it served free, within seconds. The whole architecture starts once, in tests/test_originals.py,
which replays the originals' commands against it and ends with a SIGTERM to `make` (these helpers, shared)."""
import os
import signal
import subprocess
import time
from pathlib import Path
from speedrun.kit.processes import command_line, log_says, port_holder, start_process
from speedrun.tools.architecture import SERVICES

ROOT = Path(__file__).resolve().parents[1]
CHEAP = ('home', 'web-client')
TOP_LEVEL_MAKE = {'MAKEFLAGS': '', 'MFLAGS': '', 'MAKELEVEL': '0'}  # as a reader's `make`, not a sub-make of `make test`


def start_make_run(settings, name, services=(), ready='press Ctrl-C', timeout=900):
    "`make run [SERVICES=...]` in its own session, its output in build/logs/NAME.log, once its output says `ready`."
    log = settings.logs_dir/f'{name}.log'
    command = ['make', 'run'] + ([f'SERVICES={" ".join(services)}'] if services else [])
    return start_process(command, name, settings.logs_dir, ready=log_says(log, ready), timeout=timeout, env=TOP_LEVEL_MAKE, cwd=ROOT,
                         default_signals=(signal.SIGINT, signal.SIGHUP))  # as a terminal starts it, whatever this test process ignores


def process_table():
    "pid -> (parent pid, start time, state) of every process now."
    table = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try: fields = stat.read_text().rpartition(')')[2].split()
        except OSError: continue
        table[int(stat.parent.name)] = (int(fields[1]), fields[19], fields[0])
    return table


def descendants(pid):
    "pid -> start time of every process below `pid` (children, theirs, ...), so that a reused pid is not mistaken for one of them."
    table, found, todo = process_table(), {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, started, _) in table.items():
            if ppid == parent and child not in found: found[child] = started; todo.append(child)
    return found


def still_running(processes):
    table = process_table()
    return [f'{pid} {command_line(pid)[:150]}' for pid, started in processes.items() if pid in table and table[pid][1] == started and table[pid][2] != 'Z']


def signal_make_and_check(run, signal_name, ports, host, stop_within):
    "Send `signal_name` to the make process only; assert it exits, nothing below it runs, no port is held; the figures."
    below = descendants(run.process.pid)
    began = time.monotonic()
    os.kill(run.process.pid, getattr(signal, signal_name))
    run.process.wait(timeout=stop_within)
    make_exited = time.monotonic() - began
    while (left := still_running(below)) and time.monotonic() - began < stop_within: time.sleep(0.1)
    assert not left, f'left running {time.monotonic() - began:.1f} s after {signal_name} to make: {left}'
    held = {port: str(holder) for port in ports if (holder := port_holder(port, host))}
    assert not held, f'ports still held after {signal_name}: {held}'
    output = run.log_path.read_text()
    assert f'{signal_name}: stopping...' in output and 'stopped' in output.split(f'{signal_name}: stopping...')[1], output[-2000:]
    assert 'Traceback' not in output, output[-3000:]
    figures = {'signal': signal_name, 'make exited after (s)': round(make_exited, 1), 'all gone after (s)': round(time.monotonic() - began, 1),
               'processes checked': len(below), 'ports checked': sorted(ports)}
    print(f'\n{figures}')
    return figures


def ports_of(names, settings):
    return {getattr(settings, SERVICES[name].port) for name in names if SERVICES[name].port}


def test_sighup_to_make_stops_what_it_started(settings):
    "GNU make does not pass SIGHUP on; the serve process notices make stopping and stops itself."
    with start_make_run(settings, 'test-make-run-sighup', CHEAP) as run:
        signal_make_and_check(run, 'SIGHUP', ports_of(CHEAP, settings), settings.host, stop_within=20)


def test_a_signal_while_the_services_start_stops_them_too(settings):
    with start_make_run(settings, 'test-make-run-starting', CHEAP, ready='starting 2 services on the configured ports') as run:
        signal_make_and_check(run, 'SIGTERM', ports_of(CHEAP, settings), settings.host, stop_within=20)
        assert 'press Ctrl-C' not in run.log_path.read_text()  # the signal came before the services were all up


def test_a_second_make_run_is_refused_at_once_and_sigint_stops_the_first(settings):
    with start_make_run(settings, 'test-make-run-first', CHEAP) as run:
        home = port_holder(settings.home_port, settings.host)
        assert home and home.pid in descendants(run.process.pid)
        began = time.monotonic()
        second = subprocess.run(['make', 'run', f'SERVICES={" ".join(CHEAP)}'], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env={**os.environ, **TOP_LEVEL_MAKE})
        refused_after = time.monotonic() - began
        assert second.returncode != 0 and refused_after < 10, (second.returncode, refused_after)
        assert (f'make run: port {settings.host}:{settings.home_port} of home (SPEEDRUN_HOME_PORT) is held by pid {home.pid} ('
                in second.stderr), second.stderr
        assert f'started by another `make run` (its serve process: pid ' in second.stderr and 'Traceback' not in second.stderr, second.stderr
        assert 'press Ctrl-C' not in second.stdout
        print(f'\nrefused after {refused_after:.1f} s:\n{second.stderr}')
        signal_make_and_check(run, 'SIGINT', ports_of(CHEAP, settings), settings.host, stop_within=20)
