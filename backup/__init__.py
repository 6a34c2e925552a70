"""Backups: the database, photos included, into one archive (`gridgov backup PATH`) and back
(`gridgov restore PATH`); point-in-time recovery is documented in docs/backup.md."""
