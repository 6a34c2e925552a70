"""The background worker: a procrastinate app (a job queue that lives in PostgreSQL, no
broker) and its tasks. jobs/app.py builds the app; jobs/cli.py is ``gridgov worker`` and
``gridgov supervise``."""
