from feast import FileSource
from stage import OFFLINE_DIR

# 2019: features v1 and the labels of every message, as of 2019-02-03
sms_features1_source = FileSource(name='sms_features1_source', path=str(OFFLINE_DIR/'sms_features1.parquet'),
                                  timestamp_field='event_timestamp')
sms_labels_source = FileSource(name='sms_labels_source', path=str(OFFLINE_DIR/'sms_labels.parquet'),
                               timestamp_field='event_timestamp')
