"""Engine and session, the managed local PostGIS cluster, the shared model base."""

from db.base import Base
from db.session import database_url, engine_for, session_scope

__all__ = ["Base", "database_url", "engine_for", "session_scope"]
