"""The public board's API: ``GET /api/v1/public/cases`` (a town's redacted closed cases),
``GET /api/v1/public/photos/{id}`` (a photo an operator marked publishable), and the
operator's mark itself, ``PATCH /api/v1/cases/{id}/photos/{photo_id}``.

Nothing here reads personal data: the board's records come from cases/publication.py, the one
place a case is redacted.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from boundaries import repository as boundaries
from boundaries.errors import TownNotFound
from cases import board, publication, repository
from cases import errors as case_errors
from cases.models import SATISFACTION
from accounts import access
from accounts.access import OPERATOR_ROLES, PUBLIC, allow
from web.api import IMAGE, operation
from web.auth import current_actor, signed_in
from web.api.case_schemas import CategoryRef, LonLatOut
from web.database import replica_reads, session

TOWN_PATTERN = r"^[0-9]{9}$"  # a town's statistical code (DOMAIN.md "Codes")


class BoardQueryIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date | None = Field(None, alias="from", description="first closing day, YYYY-MM-DD "
                               f"(default and earliest: {board.WINDOW_DAYS} days ago)")
    until: date | None = Field(None, description="last closing day, YYYY-MM-DD (default: today)")
    village: str | None = Field(None, pattern=r"^\d{12}(\d{3})?$",
                                description="a village's 12-digit code or its administrative "
                                            "grid's 15-digit code")
    category: str | None = Field(None, min_length=1, max_length=40,
                                 description="a category code (its subcategories included)")
    page: int = Field(1, ge=1, le=100_000)
    town: str | None = Field(None, pattern=TOWN_PATTERN,
                             description="the town's 9-digit code, e.g. 140525108 (default: the "
                                         "signed-in account's town, else the first town by code)")

    @field_validator("town", mode="before")
    @classmethod
    def _town_code(cls, value):
        # before the pattern, so the refusal names the value (the pattern stays for the schema)
        if isinstance(value, str) and not re.fullmatch(TOWN_PATTERN, value):
            raise ValueError(f"`town` was {value[:40]!r} but is expected to be a town's "
                             "9-digit code, e.g. 140525108")
        return value


class PublicTown(BaseModel):
    code: str
    name: str


class PublicVillage(BaseModel):
    code: str
    name: str | None


class PublicReporter(BaseModel):
    name: str | None = Field(description="redacted: the first character and *, e.g. 张*")
    phone: str | None = Field(description="redacted, e.g. 138****5678")


class PublicCase(BaseModel):
    id: int
    category: CategoryRef
    village: PublicVillage | None
    address: str | None = Field(description="cut to the street: no door number, building or unit")
    reported_at: str | None
    closed_at: str | None
    time_taken_h: float | None = Field(description="hours from report to closing")
    what_was_done: str | None = Field(description="the closing note, phone numbers masked")
    satisfaction: str | None = Field(json_schema_extra={"enum": [*SATISFACTION, None]})
    supporters: int = Field(description="other residents who reported the same matter (\"+N\")")
    reporter: PublicReporter | None
    location: LonLatOut | None = Field(description="WGS 84, snapped to about 50 m")
    photos: list[str] = Field(description="URLs of the photos an operator marked publishable")


class PublicBoardOut(BaseModel):
    town: PublicTown | None = Field(description="the town whose board this is (null: no town)")
    items: list[PublicCase]
    total: int
    page: int
    pages: int
    per_page: int
    from_: str = Field(alias="from")
    until: str


def board_query(query: BoardQueryIn, town_code: str) -> board.BoardQuery:
    """The validated query string as the board's question about the town ``town_code``."""
    return board.BoardQuery(town=town_code, since=query.from_, until=query.until,
                            village=query.village, category=query.category, page=query.page)


def board_town(db: Session, asked: str | None) -> dict[str, str] | None:
    """The town whose board is read, ``{code, name}``: the one ``asked`` for (TownNotFound when
    no town has that code); else, as the operator page does, the signed-in account's town, then
    the first town by code. None only in a database without a town."""
    if asked is None:
        signed = signed_in()
        own = signed.actor.town_code if signed is not None else None
        # an account's town the database no longer holds: the first town, as for a resident
        if own is not None and (own_name := boundaries.town_name(db, own)) is not None:
            return {"code": own, "name": own_name}
        asked = boundaries.first_town_code(db)
        if asked is None:
            return None
    name = boundaries.town_name(db, asked)
    if name is None:
        raise TownNotFound(f"there is no town {asked!r}: `town` is a town's 9-digit code, "
                           "e.g. 140525108", {"town": asked})
    return {"code": asked, "name": name}


def empty_board(query: BoardQueryIn) -> dict:
    """The board of a database without a town: nothing, with the window asked for checked."""
    since, until = board.window(query.from_, query.until)
    return {"items": [], "total": 0, "page": query.page, "pages": 1,
            "per_page": board.PER_PAGE, "from": since.isoformat(), "until": until.isoformat()}


@replica_reads
@allow(PUBLIC)
@operation(
    "/public/cases", summary="A town's public board (公示栏): closed cases, redacted",
    tags=["public"], query=BoardQueryIn,
    responses={200: ("a page of closed cases", PublicBoardOut)},
    errors={404: "town_not_found (details: town)",
            422: "invalid_query; outside_public_window (details: earliest, latest); "
                 "unknown_category"},
)
def public_cases(query: BoardQueryIn):
    """A town's cases closed in the last 90 days, newest first, 20 a page: category, village,
    dates, time taken, what was done, the residents' rating and "+N" supporters. No personal data:
    names as 张*, phones as 138****5678, addresses cut to the street, positions snapped to
    about 50 m, photos only when an operator marked them publishable."""
    db = session()
    town = board_town(db, query.town)
    if town is None:
        return {"town": None, **empty_board(query)}
    return {"town": town, **board.board(db, board_query(query, town["code"]))}


@replica_reads
@allow(PUBLIC)
@operation(
    "/public/photos/<int:photo_id>", summary="A photo of a closed case, marked publishable",
    tags=["public"], responses={200: ("the image, in the type it was sent in", IMAGE)},
    errors={404: "photo_not_found: no such photo, or not marked publishable"},
)
def public_photo(photo_id: int):
    """Only a photo an operator marked publishable, of a closed case; any other is 404. Served
    without its metadata (EXIF, XMP: where and when it was taken, the device)."""
    found = board.public_photo(session(), photo_id)
    if found is None:
        raise case_errors.PhotoNotFound(
            f"there is no public photo {photo_id}", {"photo_id": photo_id})
    # UnreadableImage (404 photo_not_found): a photo that cannot be decoded keeps its metadata
    data = publication.public_image(bytes(found["data"]), found["content_type"], photo_id)
    response = Response(data, mimetype=found["content_type"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


class PhotoMarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publishable: bool = Field(strict=True, description="true: the public board may show it")


class PhotoMarkOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    publishable: bool


@allow(*OPERATOR_ROLES)
@operation(
    "/cases/<int:case_id>/photos/<int:photo_id>", "PATCH",
    summary="Mark a case's photo publishable on the public board (or not)", tags=["cases"],
    body=PhotoMarkIn, responses={200: ("the photo", PhotoMarkOut)},
    errors={400: "malformed JSON", 401: "not_authenticated", 403: "forbidden or out_of_scope",
            404: "photo_not_found", 422: "invalid_body"},
)
def mark_photo(case_id: int, photo_id: int, body: PhotoMarkIn):
    """An operator looks at the photo and decides: nobody recognisable, no door number, no
    papers. Only marked photos ever reach the public board. Town and village operators, in
    their scope."""
    db = session()
    access.check_case(db, current_actor(), case_id)
    found = repository.set_photo_publishable(db, case_id, photo_id, body.publishable)
    if found is None:
        raise case_errors.PhotoNotFound(
            f"case {case_id} has no photo {photo_id}", {"case_id": case_id, "photo_id": photo_id})
    db.commit()
    return {k: found[k] for k in PhotoMarkOut.model_fields}
