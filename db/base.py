"""The declarative base every gridgov model derives from."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
