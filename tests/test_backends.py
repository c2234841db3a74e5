"""Storage and the APIs on both backends: the embedded SQLite and the real Cassandra node."""
import json
import uuid
from dataclasses import replace
import pytest
from fastapi.testclient import TestClient
from speedrun.spam.features1 import Features1
from speedrun.spam.model_serving import create_model_serving_app
from speedrun.spam.models import RandomForestModel
from speedrun.spam.storage import check_storage_behaviour, open_storage
from speedrun.spam.user_data import SAMPLE_INBOXES, SPAM_SAMPLE, create_user_data_app, load_sample_inboxes

BACKENDS = ['sqlite', 'cassandra']


@pytest.fixture(params=BACKENDS)
def backend_settings(request, settings, tmp_path):
    "The settings with one backend; SQLite in a scratch build folder, Cassandra on the local node."
    return replace(settings, online_store_backend=request.param, build_dir=tmp_path, trusted_proxies=('testclient',))  # X-Forwarded-For names the caller


@pytest.fixture(scope='module')
def tiny_model():
    texts = ['hello there friend', 'see you at lunch', 'WIN FREE CASH NOW!!!', 'FREE PRIZE, CALL NOW!!'] * 5
    model = RandomForestModel.train('v1', Features1().texts_to_features(texts), ['ham', 'ham', 'spam', 'spam'] * 5, trees=5)
    model.model_id = uuid.uuid4().hex[:12]  # a fresh training: nothing of earlier runs is in its cache
    return model


def test_storage_behaves_the_same(backend_settings):
    storage = open_storage(backend_settings, call_log_ttl=2)
    try: check_storage_behaviour(storage, ttl_seconds=2)
    finally: storage.close()


def test_model_api_cache_and_call_log(backend_settings, tiny_model):
    storage = open_storage(backend_settings); storage.create_tables()
    caller = f'198.51.100.{uuid.uuid4().int % 250}'
    with TestClient(create_model_serving_app(backend_settings, models=[tiny_model], storage=storage)) as client:
        def predict(**options):
            return client.post('/model/v1/text_to_prediction', json={'text': 'FREE CASH!!!', **options}, headers={'X-Forwarded-For': caller}).json()
        first, again, fresh = predict(), predict(), predict(skip_cache=True)
        assert (first['from_cache'], again['from_cache'], fresh['from_cache']) == (False, True, False)
        assert first['prediction'] == again['prediction'] and first['top']['label'] == 'spam'
        calls = client.get('/model/v1/recent_call_log', headers={'X-Forwarded-For': caller}).json()
        assert len(calls) == 3 and all(json.loads(call['input_json']) == 'FREE CASH!!!' and call['version'] == 'v1' for call in calls), calls
        bad = client.post('/model/v1/features_to_prediction', json={'features': [1, 2, 'three']})
        assert bad.status_code == 422 and 'valid number' in bad.json()['detail']


def test_user_data_api(backend_settings):
    storage = open_storage(backend_settings); storage.create_tables(); load_sample_inboxes(storage)
    client = TestClient(create_user_data_app(backend_settings, storage))
    samples = {text for _, _, text in SAMPLE_INBOXES['fiona']}  # the chapters add messages to the same Cassandra inboxes
    inbox = [m for m in client.get('/sms/fiona').json() if m['sms_text'] in samples]
    assert len(inbox) == 5 and inbox[0]['date_sent'] > inbox[-1]['date_sent'] and SPAM_SAMPLE in [m['sms_text'] for m in inbox]
    assert client.get(f"/sms/fiona/{inbox[0]['sms_id']}").json() == inbox[0]
    assert client.get(f'/sms/fiona/{uuid.uuid1()}').status_code == 404
    storage.close()
