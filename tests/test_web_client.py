"""The web client in headless Chromium against the real APIs (uvicorn processes), on a scratch build folder."""
from dataclasses import replace
import httpx
from speedrun.spam.storage import open_storage
from speedrun.spam.user_data import SAMPLE_INBOXES, SPAM_SAMPLE, load_sample_inboxes
from speedrun.spam.web_client import check_inbox_in_browser
from speedrun.tools.architecture import SERVICES


def test_a_user_sees_the_verdicts_of_their_inbox(settings, tmp_path, save_tiny_model):
    scratch = replace(settings, build_dir=tmp_path, online_store_backend='sqlite', spam_model_versions=('v1',))
    save_tiny_model(scratch)
    storage = open_storage(scratch); storage.create_tables(); load_sample_inboxes(storage); storage.close()
    with SERVICES.start('model-serving-api', 'user-data-api', 'web-client', settings=scratch) as running:
        seen = check_inbox_in_browser(running.url('web-client') + '/', 'fiona', tmp_path/'fiona.png')
        api, inbox = running.url('model-serving-api'), httpx.get(running.url('user-data-api') + '/sms/fiona', trust_env=False).json()
        verdicts = {text: httpx.post(f'{api}/model/v1/text_to_prediction', json={'text': text}, trust_env=False).json()['top']['label']
                    for _, _, text in SAMPLE_INBOXES['fiona']}
    assert {item['text']: item['status'] for item in seen} == verdicts, (seen, verdicts)  # every message shows the API's verdict, none an error
    # the page reads the original's shape: a list of {user_id, sms_id, sender_id, sms_text, date_sent}, newest first
    assert [item['meta'] for item in seen] == [f"from {sms['sender_id']}, {sms['date_sent']}" for sms in inbox], (seen, inbox)
    assert [sms['sender_id'] for sms in inbox] == [sender for _, sender, _ in reversed(SAMPLE_INBOXES['fiona'])]
    assert inbox[-1]['date_sent'].startswith('2019-06-01T00:00:00'), inbox  # fiona's first message, under the original's id
    assert verdicts[SPAM_SAMPLE] == 'spam' and list(verdicts.values()).count('ham') >= 3, verdicts
    assert (tmp_path/'fiona.png').stat().st_size > 10_000
