from datetime import timedelta
from feast import FeatureView, Field
from feast.types import Array, Float32, Int64, String
from data_sources import sms_features1_source, sms_labels_source
from entities import sms
from stage import stage_reached

NO_EXPIRY = timedelta(0)  # features of a message do not go stale

sms_features1 = FeatureView(
    name='sms_features1', entities=[sms], ttl=NO_EXPIRY, source=sms_features1_source, online=True,
    schema=[Field(name='cap_r', dtype=Float32), Field(name='nal_r', dtype=Float32)]
    + [Field(name=f'cw_scores_{i}', dtype=Int64) for i in range(7)],
    description='features v1 (2019): capitals ratio, non-letters ratio, cue-word flags')

# online as in the original (materialised "along with the label set"), so that a read of a whole feature service
# (`labeled_sms_1`, `labeled_sms_2`) works on every online store: Feast's Cassandra store fails on a view without a table
sms_labels = FeatureView(
    name='sms_labels', entities=[sms], ttl=NO_EXPIRY, source=sms_labels_source, online=True,
    schema=[Field(name='label', dtype=String)], description='ham or spam')

if stage_reached('2020'):
    from data_sources import sms_features2_source
    if stage_reached('2021'):
        from data_sources import smss2_push  # from 2021 the view is fed by pushes, its parquet file the batch source
    sms_features2 = FeatureView(
        name='sms_features2', entities=[sms], ttl=NO_EXPIRY, online=True,
        source=smss2_push if stage_reached('2021') else sms_features2_source,
        schema=[Field(name='features', dtype=Array(Int64))], description='features v2 (2020): 30 word indices, pre-padded')
