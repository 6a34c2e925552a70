"""The public board's API: ``GET /api/v1/public/cases`` (redacted closed cases),
``GET /api/v1/public/photos/{id}`` (a photo an operator marked publishable), and the
operator's mark itself, ``PATCH /api/v1/cases/{id}/photos/{photo_id}``.

Nothing here reads personal data: the board's records come from cases/publication.py, the one
place a case is redacted.
"""

from __future__ import annotations

from datetime import date

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from cases import board, publication, repository
from cases import errors as case_errors
from cases.models import SATISFACTION
from accounts import access
from accounts.access import OPERATOR_ROLES, PUBLIC, allow
from web.api import IMAGE, operation
from web.auth import current_actor
from web.api.case_schemas import CategoryRef, LonLatOut
from web.database import replica_reads, session


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
    items: list[PublicCase]
    total: int
    page: int
    pages: int
    per_page: int
    from_: str = Field(alias="from")
    until: str


def board_query(query: BoardQueryIn) -> board.BoardQuery:
    """The validated query string as the board's question."""
    return board.BoardQuery(since=query.from_, until=query.until, village=query.village,
                            category=query.category, page=query.page)


@replica_reads
@allow(PUBLIC)
@operation(
    "/public/cases", summary="The public board (公示栏): closed cases, redacted",
    tags=["public"], query=BoardQueryIn,
    responses={200: ("a page of closed cases", PublicBoardOut)},
    errors={422: "invalid_query; outside_public_window (details: earliest, latest); "
                 "unknown_category"},
)
def public_cases(query: BoardQueryIn):
    """Cases closed in the last 90 days, newest first, 20 a page: category, village, dates,
    time taken, what was done, the residents' rating and "+N" supporters. No personal data:
    names as 张*, phones as 138****5678, addresses cut to the street, positions snapped to
    about 50 m, photos only when an operator marked them publishable."""
    return board.board(session(), board_query(query))


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
