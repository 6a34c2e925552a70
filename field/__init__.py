"""Patrol visits (定期巡访) and their compliance.

Grid workers and auxiliaries visit every household, shop and enterprise of their grids once a
month, and key persons, key places and unresolved hazards once a week (DOMAIN.md, "The closed
loop": 收集到位). The rules are data (field/data/visit_rules.csv); the things to visit are the
``visit_targets`` view (migration 0018) over households, shops, enterprises, key persons, key
places and hazards. A visit is a check-in from the phone: who, what, when (the phone's time),
where (the phone's position and accuracy), a note, photos and an outcome; a problem found opens
a case at the target. Compliance is the share of visits due in a month that were made on time.
"""
