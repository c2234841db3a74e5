"""Every HTTP API of the workbook (those `make run` serves, `SERVED_APIS`) fuzzed from its own OpenAPI schema (schemathesis): requests that fit
the schema and requests that break it, against the real services (uvicorn processes on the chapters'
models, stores and feature server). No answer may be a 500, and every error must be JSON with a
message. 502 and 503 are allowed only as the documented answers that name a dependency being down.
Feast's own feature server is not ours and is not fuzzed; the proxy in front of it is."""
import time
from collections import Counter
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from speedrun.config import ENVIRONMENT_VARIABLES
from speedrun.feature_server import start_feature_server
from speedrun.serve import SERVED_APIS
from speedrun.services import free_port, start_app

EXAMPLES_PER_OPERATION = 60
# every API `make run` serves that is ours (Feast's feature server is started by a starter, not an app of ours)
APIS = {api.name: api for api in SERVED_APIS if not api.starter}


def port_variable(api) -> str:
    "The environment variable of an API's port setting (`model_api_port` -> `SPEEDRUN_MODEL_API_PORT`)."
    [name] = [name for name in ENVIRONMENT_VARIABLES if name.lower().removeprefix('speedrun_') == api.port_setting]
    return name


@pytest.fixture(scope='module')
def served(settings):
    "Every API on free ports, each told where the others are, as `make run` serves them; stopped afterwards."
    feature_server = start_feature_server(settings)
    environment = {port_variable(api): str(free_port()) for api in APIS.values()}
    environment['SPEEDRUN_FEATURE_SERVER_PORT'] = str(feature_server.port)
    running = [feature_server]
    try:
        for name, api in APIS.items():
            running.append(start_app(api.app, f'fuzz-{name}', port=int(environment[port_variable(api)]), factory=True, env=environment, timeout=120))
        yield {service.name.removeprefix('fuzz-'): service.url for service in running[1:]}
    finally:
        for service in reversed(running): service.stop()


def check_answer(case, response) -> None:
    "No 500; 502/503 only with a reason; every error JSON with a message."
    where = f'{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]}'
    assert response.status_code != 500 and response.status_code < 504, f'{where} -> {response.status_code}: {response.text[:500]}'
    if response.status_code >= 400:
        content_type = response.headers.get('content-type') or ['']
        assert (content_type[0] if isinstance(content_type, list) else content_type).startswith('application/json'), f'{where} -> {response.status_code} not JSON: {response.text[:300]}'
        body = response.json()
        message = body.get('detail') if isinstance(body, dict) else None
        assert message, f'{where} -> {response.status_code} without a message: {body}'


@pytest.mark.parametrize('api', list(APIS))
def test_fuzzed_api_never_answers_500(api, served):
    schema = schemathesis.openapi.from_url(f'{served[api]}/openapi.json')
    statuses, operations, started = Counter(), 0, time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                                 suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                response = case.call(base_url=served[api], timeout=30)
                statuses[response.status_code] += 1
                check_answer(case, response)
            try: fuzz()
            except Unsatisfiable:  # no input breaks an operation without parameters (GET /health)
                assert mode is GenerationMode.NEGATIVE, f'no valid request for {operation.label}'
    assert operations and sum(statuses.values()) >= operations, statuses
    print(f'\n{api}: {operations} operations, {sum(statuses.values())} requests in {time.monotonic() - started:.0f} s, '
          f'answers {dict(sorted(statuses.items()))}')
