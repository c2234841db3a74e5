from feast import Entity, ValueType

sms = Entity(name='sms', join_keys=['sms_id'], value_type=ValueType.STRING, description='one text message, e.g. sms14050')
