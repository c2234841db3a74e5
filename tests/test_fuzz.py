"""Every HTTP API of the workbook (every app of the registry, `SERVICES`) fuzzed from its own OpenAPI schema
(schemathesis): requests that fit the schema and requests that break it, against the real services
(uvicorn processes on the chapters' models, stores and feature server). No answer may be a 500, and
every error must be JSON with a message. 502 and 503 are allowed only where an operation depends on
another service and only when the message names it (`DEPENDENCY_ANSWERS`). Each operation must get
at least `MINIMUM_EXAMPLES` requests in each mode, unless it takes no input (`GET /health`: one
request) or no request can break its schema (`UNBREAKABLE`): there, and only there, `Unsatisfiable`
is expected of the negative mode.
Feast's own feature server is not ours and is not fuzzed; the proxy in front of it is."""
import time
from collections import Counter
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from speedrun.tools.architecture import SERVICES

EXAMPLES_PER_OPERATION, MINIMUM_EXAMPLES = 45, 20
APIS = [service.name for service in SERVICES if service.kind == 'app']
# (API, operation) -> the statuses allowed beyond the caller's 4xx, with the words the message must hold (the dependency named)
DEPENDENCY_ANSWERS = {
    ('inbox-api', 'POST /sms'): ({502, 503}, ('store failed', 'features failed', 'push failed')),
    ('proxy', 'GET /features/{sms_id}'): ({503}, ('feature server',)),
    ('proxy', 'POST /get-online-features'): ({502, 503}, ('feature server',)),
    ('ml-api', 'GET /predict/{data_point_id}'): ({502, 503}, ('zero-shot server',)),
}
# operations that take input no request can break: any text is a valid path parameter there (a user id is not any text: 1 to 64 printable characters)
UNBREAKABLE = {('proxy', 'GET /features/{sms_id}'): 'any text is an sms id (an unknown one is a 404)'}
STORAGE_ANSWER = ({503}, ('the storage is unavailable',))  # the APIs on the spam story's storage, should SQLite or Cassandra not answer
STORAGE_APIS = {'model-serving-api', 'user-data-api'}
# hypothesis' health checks that the generated requests trip, and why that is no fault of the API
SUPPRESSED_HEALTH_CHECKS = [HealthCheck.too_slow,  # each example is a real HTTP request to a real server
                            HealthCheck.filter_too_much,  # negative mode filters out the inputs that happen to be valid
                            HealthCheck.data_too_large]  # long texts and batches are part of what is fuzzed


@pytest.fixture(scope='module')
def served(settings):
    "Every API on free ports, with the feature server, each told where the others are, as `make run` serves them; stopped afterwards."
    with SERVICES.start(*APIS, 'feature-server', settings=settings, log_prefix='fuzz-') as running:
        yield {name: running.url(name) for name in APIS}


def takes_input(operation) -> bool:
    return any(True for _ in operation.iter_parameters()) or bool(operation.body)


def breakable(api: str, operation) -> bool: return takes_input(operation) and (api, operation.label) not in UNBREAKABLE


def check_answer(api: str, case, response) -> None:
    "No 500; a 502 or 503 only where a dependency is, naming it; every error JSON with a message."
    where = f'{api}: {case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]}'
    status = response.status_code
    assert status != 500, f'{where} -> 500: {response.text[:500]}'
    if status >= 400:
        content_type = response.headers.get('content-type') or ['']
        assert (content_type[0] if isinstance(content_type, list) else content_type).startswith('application/json'), f'{where} -> {status} not JSON: {response.text[:300]}'
        body = response.json()
        message = body.get('detail') if isinstance(body, dict) else None
        assert message, f'{where} -> {status} without a message: {body}'
    if status >= 500:
        allowed, names = DEPENDENCY_ANSWERS.get((api, f'{case.method} {case.path}'), STORAGE_ANSWER if api in STORAGE_APIS else (set(), ()))
        assert status in allowed and any(name in message for name in names), f'{where} -> {status} where no dependency answers so: {message[:300]}'


@pytest.mark.parametrize('api', APIS)
def test_fuzzed_api_never_answers_500(api, served):
    schema = schemathesis.openapi.from_url(f'{served[api]}/openapi.json')
    statuses, counts, started = Counter(), Counter(), time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                                 suppress_health_check=SUPPRESSED_HEALTH_CHECKS)
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                response = case.call(base_url=served[api], timeout=30)
                statuses[response.status_code] += 1; counts[operation.label, mode] += 1
                check_answer(api, case, response)
            try: fuzz()
            except Unsatisfiable:  # no request breaks the schema of an operation that takes no input, or none that breaks
                assert mode is GenerationMode.NEGATIVE and not breakable(api, operation), f'no {mode.value} request for {operation.label}'
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.POSITIVE: least = MINIMUM_EXAMPLES if takes_input(operation) else 1
            else: least = MINIMUM_EXAMPLES if breakable(api, operation) else 0
            assert counts[operation.label, mode] >= least, f'{operation.label}, {mode.value}: {counts[operation.label, mode]} requests, fewer than {least}'
    print(f'\n{api}: {len(operations)} operations, {sum(statuses.values())} requests in {time.monotonic() - started:.0f} s, '
          f'answers {dict(sorted(statuses.items()))}, fewest per operation and mode that takes input '
          f'{min((c for (label, _), c in counts.items() if takes_input(next(o for o in operations if o.label == label))), default=0)}')
