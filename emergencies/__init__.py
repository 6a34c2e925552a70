"""Emergency mobilisation (应急动员).

When a flood or an epidemic comes, the town center draws an area (or names a grid or a village,
or buffers a point or a river line by some metres) and sees at once what is inside: the
households and their residents, with the vulnerable flagged (migration 0031: an elderly person
living alone, the disabled, the bedridden, children without a guardian at home), the
enterprises and the hazards, by grid and by the grid worker answering for it. Mobilising makes
an **emergency** (a name, a kind — evacuate, confirm safe, count, notify — the area and the
instructions) and one **task** per household, enterprise or hazard inside, for its grid's
worker (the grid's auxiliaries may help), in one transaction. Workers confirm each task from
the phone (safe, relocated to where with how many people, or not reachable), and the command
center follows the counts live until it closes the emergency with a summary.

- emergencies/area.py — an area as the operator gives it, checked, made a polygon;
- emergencies/service.py — preview, mobilise, progress (the board), export and close;
- emergencies/tasks.py — a worker's tasks and their confirmation (idempotent like visits);
- emergencies/emergencies.sql — their statements.
"""
