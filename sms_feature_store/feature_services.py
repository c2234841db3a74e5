from feast import FeatureService
from feature_views import sms_features1, sms_labels

labeled_sms_1 = FeatureService(name='labeled_sms_1', features=[sms_features1, sms_labels],
                               description='features v1 with labels: what model v1 trains on')
