"""What the public board (公示栏) may show of a case: the one place where a case is redacted.

DOMAIN.md's third step: every matter is reported back and published (公示) — but the board is
read by anyone, without an account, so it carries no personal data. A board record is built
here from an allow-list (:func:`public_case`), never by copying a row and deleting fields, so a
column added later stays private until someone adds it here on purpose. What it shows:

- names as 张*, phone numbers as 138****5678 or 0356-****567, and phone and ID numbers inside
  free text (the closing note) masked the same way: accounts/privacy.py's masks;
- addresses cut to the street (街路巷/小区): group, street, but no door number, building, unit,
  room or floor (geo/address.py parses them);
- positions snapped to a grid of POSITION_STEP_DEG (about 50 m): a case reported at a door
  identifies the household; 50 m holds several households in a village, and still shows the
  street and the corner of the village the matter was in;
- photos only when an operator marked them publishable (case_photos.publishable), and then
  without their metadata (:func:`public_image`): a phone's photo carries in its EXIF where it
  was taken, to the metre, and often the phone's make and owner's name.

Pure functions: no database, no framework (cases/board.py reads the rows).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from accounts import privacy
from cases.errors import UnreadableImage

from geo.address import parse

# 0.0005° is 55 m of latitude and, at Bagong (35.6°N), 45 m of longitude.
POSITION_STEP_DEG = 0.0005
STREET_SUFFIXES = ("大街", "街", "路", "巷", "道", "胡同", "弄", "里", "线", "小区")

# The masks are accounts/privacy.py's, the one place the rule lives; the board's names for them:
redact_name = privacy.masked_name
redact_phone = privacy.masked_phone
redact_text = privacy.masked_text


def public_address(address: str | None) -> str | None:
    """The address cut to the street: 巴公镇渠头村三组东大街12号3单元 → 巴公镇渠头村3组东大街.

    Levels above the village are kept as written; then the village, the group (组) and the
    street (街路巷 or 小区) when the address names one. Door numbers, buildings (楼/栋/#),
    units, rooms, floors and any words after them (门口, 附近, a name…) are dropped. None when
    nothing above the door number is recognised."""
    if address is None or not address.strip():
        return None
    parsed = parse(address)
    parts = [parsed.province, parsed.city, parsed.county, parsed.town, parsed.village]
    if parsed.group is not None:
        parts.append(f"{parsed.group}组")
    street = parsed.street
    # the parser takes any words before the first number as the street; only a real street
    # (or compound) name is kept: "渠头村张三家" must not publish 张三
    if street and street.endswith(STREET_SUFFIXES):
        parts.append(street)
    kept = "".join(p for p in parts if p)
    return kept or None


def public_lonlat(lon: float | None, lat: float | None) -> tuple[float, float] | None:
    """The position snapped to the nearest node of a POSITION_STEP_DEG grid (about 50 m)."""
    if lon is None or lat is None:
        return None
    return (round(round(lon / POSITION_STEP_DEG) * POSITION_STEP_DEG, 4),
            round(round(lat / POSITION_STEP_DEG) * POSITION_STEP_DEG, 4))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def public_case(row: dict[str, Any], photo_ids: list[int] | None = None) -> dict[str, Any]:
    """A board record from a cases/board.sql row: only the fields listed here, redacted.

    ``photo_ids``: the case's photos an operator marked publishable."""
    lonlat = public_lonlat(row.get("lon"), row.get("lat"))
    hours = None
    if row.get("closed_at") is not None and row.get("created_at") is not None:
        hours = round((row["closed_at"] - row["created_at"]).total_seconds() / 3600, 1)
    reporter_name = row.get("reporter_name")
    reporter = None
    if reporter_name or row.get("reporter_phone"):
        reporter = {"name": privacy.masked_name(reporter_name),
                    "phone": privacy.masked_phone(row.get("reporter_phone"))}
    return {
        "id": row["id"],
        "category": {"code": row["category_code"], "name_zh": row.get("category_zh"),
                     "name_en": row.get("category_en")},
        "village": ({"code": row["admin_code"], "name": row.get("village_name")}
                    if row.get("admin_code") else None),
        "address": public_address(row.get("address")),
        "reported_at": _iso(row.get("created_at")),
        "closed_at": _iso(row.get("closed_at")),
        "time_taken_h": hours,
        "what_was_done": privacy.masked_text(row.get("closing_note"), (reporter_name,)),
        "satisfaction": row.get("satisfaction"),
        "supporters": row.get("supporters") or 0,
        "reporter": reporter,
        "location": {"lon": lonlat[0], "lat": lonlat[1]} if lonlat else None,
        "photos": [f"/api/v1/public/photos/{pid}" for pid in (photo_ids or [])],
    }


_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def public_image(data: bytes, content_type: str, photo_id: int | None = None) -> bytes:
    """The photo as the board may serve it: decoded and encoded again with nothing but its
    pixels and colour profile — no EXIF (GPS position, time, device, owner), XMP, or text
    chunks. A photo turned by its EXIF orientation is turned in its pixels first, so it still
    stands the right way up. Raises UnreadableImage when Pillow cannot decode it.

    Why encode again rather than cut the metadata segments out: the decoder, not a parser of
    our own, decides what an image is, and whatever it keeps is only what it drew.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImage(
            f"photo {photo_id} cannot be decoded, so its metadata cannot be removed: it is not "
            f"published ({exc})", {"photo_id": photo_id}) from exc
    out = io.BytesIO()
    kind = _FORMATS.get(content_type, "PNG")
    options: dict[str, Any] = {}
    if upright.info.get("icc_profile"):
        options["icc_profile"] = upright.info["icc_profile"]
    if kind == "JPEG":
        options.update(quality=90)
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
    upright.save(out, kind, **options)
    return out.getvalue()
