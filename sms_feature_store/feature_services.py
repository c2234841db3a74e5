from feast import FeatureService
from feature_views import sms_features1, sms_labels
from stage import stage_reached

labeled_sms_1 = FeatureService(name='labeled_sms_1', features=[sms_features1, sms_labels],
                               description='features v1 with labels: what model v1 trains on')

if stage_reached('2020'):
    from feature_views import sms_features2
    labeled_sms_2 = FeatureService(name='labeled_sms_2', features=[sms_features2, sms_labels],
                                   description='features v2 with labels: what models v2 and v3 train on')
