"""The web client in headless Chromium against the real APIs (uvicorn processes), on a scratch build folder."""
from dataclasses import replace
from speedrun.services import free_port, start_app
from speedrun.storage import open_storage
from speedrun.user_data import SPAM_SAMPLE, load_sample_inboxes
from speedrun.web_client import check_inbox_in_browser


def test_a_user_sees_the_verdicts_of_their_inbox(settings, tmp_path, save_tiny_model):
    scratch = replace(settings, build_dir=tmp_path, online_store_backend='sqlite')
    save_tiny_model(scratch)
    storage = open_storage(scratch); storage.create_tables(); load_sample_inboxes(storage); storage.close()
    web_client_port = free_port()  # the APIs answer the page of the web client's origin only (CORS)
    environment = {'SPEEDRUN_BUILD_DIR': str(tmp_path), 'ONLINE_STORE_BACKEND': 'sqlite', 'SPAM_MODEL_VERSIONS': 'v1',
                   'SPEEDRUN_WEB_CLIENT_PORT': str(web_client_port)}
    with start_app('speedrun.serving:create_model_serving_app', 'test-model-api', factory=True, env=environment) as model_api, \
         start_app('speedrun.user_data:create_user_data_app', 'test-user-data-api', factory=True, env=environment) as user_data_api, \
         start_app('speedrun.web_client:create_web_client_app', 'test-web-client', port=web_client_port, factory=True,
                   env={**environment, 'SPEEDRUN_MODEL_API_PORT': str(model_api.port), 'SPEEDRUN_USER_DATA_API_PORT': str(user_data_api.port)}) as web_client:
        seen = check_inbox_in_browser(web_client.url + '/', 'fiona', tmp_path/'fiona.png')
    statuses = {item['text']: item['status'] for item in seen}
    assert len(seen) == 5 and statuses[SPAM_SAMPLE] == 'spam' and list(statuses.values()).count('ham') >= 3, seen
    assert (tmp_path/'fiona.png').stat().st_size > 10_000
