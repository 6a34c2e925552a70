"""The supervision pass claims its signals itself, set-based, not one trigger call per event

A signal is issued once per clock: its claim in case_event_keys (kind ``signal``, the case,
``<clock row>:<signal>``; migration 0060). Until now the claim was made by the BEFORE INSERT
trigger case_events_claim_keys, one PL/pgSQL call per event, each running its own
``INSERT … ON CONFLICT DO NOTHING``. A catch-up pass over the benchmark's 1,000,000 cases
issues 95,071 signals, and those calls were 1.3–1.7 s of its 5.0 s (the pass run with and
without the trigger in one rolled-back transaction each, 2026-12-04, a slow hour of this 2-core
machine: 5.03 / 5.06 s against 3.70 / 3.35 s); the pass then missed its 5 s target
(bench/RESULTS.md, "Supervision pass").

Now the pass (cases/supervision.sql) gives each fresh signal its event's id from the events'
sequence, claims them all in one ``INSERT INTO case_event_keys … ON CONFLICT DO NOTHING
RETURNING``, and inserts the events of the claims it won. The trigger no longer fires for the
pass's own events (actor ``supervision``, which only the pass writes); every other event with a
key is claimed by it as before. What the claim guarantees is unchanged, because it is the same
unique index that decides: two passes at once still meet in it, the second waits for the
first and then inserts neither the claim nor the event of a signal the first issued
(tests/test_supervision.py); the pass is still one statement, so a killed pass leaves
nothing.

Revision ID: 0075
Revises: 0074
"""

from alembic import op

revision = "0075"
down_revision = "0074"
branch_labels = None
depends_on = None

_TRIGGER = """
DROP TRIGGER case_events_claim_keys ON case_events;
CREATE TRIGGER case_events_claim_keys BEFORE INSERT ON case_events
    FOR EACH ROW WHEN ({when})
    EXECUTE FUNCTION gridgov_case_events_claim_keys();
"""

# the supervision pass's events are claimed by the pass itself (cases/supervision.sql)
WHEN = ("(NEW.type IN ('card', 'deadline') AND NEW.actor IS DISTINCT FROM 'supervision')"
        " OR NEW.idempotency_key IS NOT NULL")
WHEN_0060 = "NEW.type IN ('card', 'deadline') OR NEW.idempotency_key IS NOT NULL"


def upgrade() -> None:
    op.execute(_TRIGGER.format(when=WHEN))


def downgrade() -> None:
    op.execute(_TRIGGER.format(when=WHEN_0060))
