"""The one table from domain error to HTTP status (web/errors.py): every error class of the
packages (every GridgovError, db/errors.py) has its own row, every package's errors share one
base, and a view that raises one gets its row's status, code, message and details."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import boundaries
import cases
import field
import tiles
from boundaries.errors import BoundaryError
from boundaries.errors import OutsideCoverage as NoGridHere
from cases.errors import CaseError, CaseNotFound, PhotoTooLarge
from field.errors import FieldError
from db.errors import GridgovError
from tiles import TileError, TileOutOfRange
from accounts.access import PUBLIC, allow
from web import create_app
from web.errors import STATUS_FOR, status_for

ROOT = Path(__file__).resolve().parent.parent
# Every package of ours (migrations/ runs Alembic when imported; tests/ is not code we serve).
PACKAGES = sorted(p.name for p in ROOT.iterdir()
                  if (p / "__init__.py").is_file() and p.name not in {"migrations", "tests"})
# Each package with errors, and its one base error (STYLE.md, "Errors").
BASES = {boundaries: BoundaryError, cases: CaseError, field: FieldError, tiles: TileError}


def _modules(package) -> list:
    """The package and every module in it, imported (so that every error class exists)."""
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        found.append(importlib.import_module(info.name))
    return found


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def unmapped(table: dict) -> list[str]:
    """The GridgovError classes defined in our packages that have no row of their own."""
    return sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in _subclasses(GridgovError)
                  if cls.__module__.split(".")[0] in PACKAGES and cls not in table)


def test_every_error_class_of_the_packages_has_its_own_row():
    for name in PACKAGES:
        _modules(importlib.import_module(name))
    assert {"boundaries", "cases", "db", "geo", "tiles", "web"} <= set(PACKAGES)
    assert unmapped(STATUS_FOR) == []


def test_a_new_error_without_a_row_is_found():
    class NewCaseError(CaseError):
        pass

    NewCaseError.__module__ = "cases.somewhere"
    assert unmapped(STATUS_FOR) == ["cases.somewhere.test_a_new_error_without_a_row_is_found.<locals>.NewCaseError"]


def test_every_package_base_derives_from_the_common_base():
    assert all(issubclass(base, GridgovError) for base in BASES.values())


def test_every_public_exception_of_a_package_derives_from_its_base():
    strays = []
    for package, base in BASES.items():
        for module in _modules(package):
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if (issubclass(cls, BaseException) and cls.__module__ == module.__name__
                        and not name.startswith("_") and not issubclass(cls, base)):
                    strays.append(f"{module.__name__}.{name}")
    assert strays == []


def test_every_row_is_an_error_status_with_a_code():
    for cls, (status, code) in STATUS_FOR.items():
        assert 400 <= status < 600, cls
        assert code and code == code.lower() and " " not in code, cls


def test_a_subclass_without_a_row_answers_with_its_base_row():
    class Unforeseen(TileError):
        pass

    assert status_for(Unforeseen) == STATUS_FOR[TileError]
    assert status_for(TileOutOfRange) == (404, "tile_out_of_range")


@pytest.mark.parametrize(
    "error, status, body",
    [
        (CaseNotFound("no case has id 7", {"id": 7}), 404,
         {"error": "case_not_found", "message": "no case has id 7", "details": {"id": 7}}),
        (PhotoTooLarge("photo 1 is 6 MB"), 413,
         {"error": "photo_too_large", "message": "photo 1 is 6 MB"}),
        (TileOutOfRange("z was 30 but must be 0..22", {"parameter": "z", "value": "30"}), 404,
         {"error": "tile_out_of_range", "message": "z was 30 but must be 0..22",
          "details": {"parameter": "z", "value": "30"}}),
        (NoGridHere(1.0, 2.0, None, None, None, None), 404,
         {"error": "outside_coverage",
          "message": "the point (1.0000000, 2.0000000) is outside coverage: there are no grids",
          "details": {"nearest": {"code": None, "name": None, "level": None}, "distance_m": None}}),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
def test_a_view_that_raises_a_domain_error_answers_its_row(error, status, body):
    app = create_app({"DATABASE_URL": "postgresql://unused/none"})

    @allow(PUBLIC)
    def view():
        raise error

    app.add_url_rule("/raises", view_func=view)
    answer = app.test_client().get("/raises")
    assert answer.status_code == status
    assert answer.get_json() == body
