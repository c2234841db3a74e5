"""Every HTTP API of the workbook fuzzed from its own OpenAPI schema (schemathesis): requests that fit
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
from speedrun.feature_server import start_feature_server
from speedrun.services import free_port, start_app

EXAMPLES_PER_OPERATION = 60
APIS = {  # name: (app factory, the setting holding its port)
    'model-api': ('speedrun.serving:create_model_serving_app', 'SPEEDRUN_MODEL_API_PORT'),
    'user-data-api': ('speedrun.user_data:create_user_data_app', 'SPEEDRUN_USER_DATA_API_PORT'),
    'inbox-api': ('speedrun.inbox:create_inbox_app', 'SPEEDRUN_INBOX_API_PORT'),
    'proxy': ('speedrun.proxy:create_proxy_app', 'SPEEDRUN_PROXY_PORT'),
    'web-client': ('speedrun.web_client:create_web_client_app', 'SPEEDRUN_WEB_CLIENT_PORT'),
    'model-server': ('speedrun.gcp.model_server:create_model_server_app', 'GCP_MODEL_SERVER_PORT'),
    'ml-api': ('speedrun.gcp.ml_api:create_ml_api_app', 'GCP_ML_API_PORT'),
}


@pytest.fixture(scope='module')
def served(settings):
    "Every API on free ports, each told where the others are, as `make run` serves them; stopped afterwards."
    feature_server = start_feature_server(settings)
    environment = {setting: str(free_port()) for _, setting in APIS.values()}
    environment['SPEEDRUN_FEATURE_SERVER_PORT'] = str(feature_server.port)
    running = [feature_server]
    try:
        for name, (app, setting) in APIS.items():
            running.append(start_app(app, f'fuzz-{name}', port=int(environment[setting]), factory=True, env=environment, timeout=120))
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
