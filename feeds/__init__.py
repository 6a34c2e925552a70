"""Monitoring feeds (智能监控): sensors and partner systems whose events become cases.

A feed is a named source (the county's water-level sensors, a camera vendor, the police's
referrals, the 12345 hotline) with a secret and a mapping (feeds/mapping.py): which sensor
types it sends, the case category each becomes, and the threshold that makes a reading an
alarm. Its events come over HTTP (``POST /api/v1/feeds/{feed}/events``, signed with the
secret: feeds/signature.py) or over MQTT (``gridgov/feeds/{feed}/events`` on the Mosquitto
broker of feeds/broker.py, read by ``gridgov feeds mqtt``: feeds/mqtt.py). Both end in
feeds/intake.py, which turns an alarm into a case through the residents' intake
(cases/intake.py), folds a repeated alarm into the open case it repeats, and keeps the feed's
own event id (``feed_events``) so a retry or a redelivery changes nothing and a reply can name
it.
"""
