from feast import FileSource, PushSource
from stage import OFFLINE_DIR, stage_reached

# 2019: features v1 and the labels of every message, as of 2019-02-03
sms_features1_source = FileSource(name='sms_features1_source', path=str(OFFLINE_DIR/'sms_features1.parquet'),
                                  timestamp_field='event_timestamp')
sms_labels_source = FileSource(name='sms_labels_source', path=str(OFFLINE_DIR/'sms_labels.parquet'),
                               timestamp_field='event_timestamp')

if stage_reached('2020'):
    # 2020: features v2 (the tokenizer's sequences) of every message, as of 2020-04-05
    sms_features2_source = FileSource(name='sms_features2_source', path=str(OFFLINE_DIR/'sms_features2.parquet'),
                                      timestamp_field='event_timestamp')

if stage_reached('2021'):
    # 2021: new features v2 arrive by push (the inbox pushes each new message's features)
    smss2_push = PushSource(name='smss2_push', batch_source=sms_features2_source)
