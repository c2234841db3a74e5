"""Two minutes of steady load on the model-serving API (the chapters' v1 and v3, SQLite cache and call
log): no error, and the server's memory flat. The rate is half of what the closed-loop benchmark
generator gets through on this machine, measured first, so the test holds on a slower machine too."""
from speedrun.benchmarks import measure_http, sample_texts, steady_load
from speedrun.services import start_app

SOAK_SECONDS = 120
LSTM_SHARE = 4  # one request in four goes to the LSTM v3, the others to the forest v1; half of them skip the cache


def test_two_minutes_at_a_sustainable_rate(settings):
    texts = sample_texts(settings)
    with start_app('speedrun.serving:create_model_serving_app', 'load-model-api', factory=True, env={'SPAM_MODEL_VERSIONS': 'v1,v3'}, timeout=120) as api:
        def request_of(i):
            version = 'v3' if i % LSTM_SHARE == LSTM_SHARE - 1 else 'v1'
            return f'{api.url}/model/{version}/text_to_prediction', {'text': texts[i % len(texts)], 'skip_cache': i % 2 == 0}
        # what one closed-loop client gets through, uncached, for each model; the mix's capacity from both
        capacity = {version: measure_http(f'{api.url}/model/{version}/text_to_prediction', seconds=3,
                                          bodies=lambda i: {'text': texts[i % len(texts)], 'skip_cache': True}).per_second for version in ('v1', 'v3')}
        mixed = 1 / ((LSTM_SHARE - 1) / LSTM_SHARE / capacity['v1'] + 1 / LSTM_SHARE / capacity['v3'])
        rate = round(mixed / 2)
        warm = steady_load(request_of, rate, seconds=10, pid=api.process.pid)  # caches, allocator and TensorFlow settle first
        held = steady_load(request_of, rate, seconds=SOAK_SECONDS, pid=api.process.pid)
    assert warm['errors'] == 0 and held['errors'] == 0, (warm['error_examples'], held['error_examples'])
    assert held['requests'] >= rate * SOAK_SECONDS * 0.95, held
    before, after = held['rss_mb'][0][1], held['rss_mb'][-1][1]
    assert after - before < max(40, before * 0.1), held['rss_mb']  # flat: no more than 40 MB or a tenth more after two minutes
    print(f"\n{SOAK_SECONDS} s at {rate} requests/s (half of the closed-loop mix: v1 {capacity['v1']:.0f}/s, v3 {capacity['v3']:.0f}/s): "
          f"{held['requests']} requests, {held['errors']} errors, {held['late']} late, p50 {held['p50_ms']:.1f} ms, p99 {held['p99_ms']:.1f} ms; "
          f"server RSS {before:.0f} MB before, {after:.0f} MB after (samples {[round(mb) for _, mb in held['rss_mb']]})")
