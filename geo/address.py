"""Chinese free-text addresses: normalised, then parsed into the levels of the standard
address base (DOMAIN.md, "Addresses"): 省/市/县/乡镇/村·社区/组/街路巷/门牌号/楼栋/单元/户.

Two kinds of numerals live in an address and are treated differently:
- *numbers* (门牌号 十二号, 三组, 一单元, 三零一室) become digits in ``normalise``, because the
  matcher compares them as integers;
- numerals *inside names* (巴公一村, 东一巷) stay as written in ``normalise`` (the name is what
  people read) and become digits only in ``name_key``, which the geocoder applies to the query
  and to the index alike, so 巴公一村 and 巴公1村 compare equal and neither breaks.

Pure functions only (DESIGN.md): no framework or database imports.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMERAL = "零〇一二三四五六七八九十百千两"
_NAME_NUMERAL = "〇一二三四五六七八九十"  # 零/百/千/两 do not occur as numbers in place names

# Words that follow a number and make it one (a numeral before them is a count, not a name).
_NUMBER_CONTEXT = "号楼|号院|号|村民小组|组|队|栋|幢|座|单元|室|户|层|楼|-"
_NUMBER_RE = re.compile(rf"[{_CN_NUMERAL}]+(?=(?:{_NUMBER_CONTEXT})|$)")
_NAME_NUMBER_RE = re.compile(rf"[{_NAME_NUMERAL}]+")
_DASHES = str.maketrans({c: "-" for c in "—–‐‑‒−~～―"})
_DROP_RE = re.compile(r"[\s,，。.、;；:：'\"“”‘’()（）\[\]【】<>《》{}!?！？*·•/\\|]")
# Committee forms of village and community names (渠头村委会, 东寺庄社区居委会) → the short name.
_COMMITTEE = (("社区居民委员会", "社区"), ("社区居委会", "社区"), ("村民委员会", "村"), ("村委会", "村"),
              ("居民委员会", "社区"), ("居委会", "社区"))

PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)
ADMIN_LEVELS = ("province", "city", "county", "town")
# Characters an administrative name (above the village) does not contain: they mark the level
# below, so a generic "…市" pattern cannot swallow 渠头村集市街.
_NOT_ADMIN = "村镇乡县区街路巷省市组号社道楼"
_ADMIN_NAME = rf"[^\W\d{_NOT_ADMIN}A-Za-z_]"
_ADMIN_PATTERNS = {
    # a province's name alone may begin a village's or a street's (河南村), not one with its
    # suffix: 辽宁省庄河市 is in Liaoning
    "province": re.compile(rf"(?:{'|'.join(PROVINCES)})(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区"
                           rf"|(?![村庄街路巷]))|{_ADMIN_NAME}{{2,7}}?(?:省|自治区)"),
    "city": re.compile(rf"{_ADMIN_NAME}{{2,7}}?(?:市|自治州|地区|盟)"),
    "county": re.compile(rf"{_ADMIN_NAME}{{1,7}}?(?:县|区|旗|市)"),
    "town": re.compile(rf"{_ADMIN_NAME}{{1,7}}?(?:镇|乡|街道办事处|街道)(?!\d)"),
}
_NOT_COUNTY = ("社区", "小区", "园区", "片区", "校区", "景区", "厂区")
_VILLAGE_RE = re.compile(r"([^\W\d][^\W号组]{0,7}?)(社区|村)(?![路街巷道])")
_GROUP_RE = re.compile(r"第?(\d+)(?:村民小组|组|队)")
_STREET_RE = re.compile(r"(.*?(?:大街|街|路|巷|道|胡同|弄|里|线))(?=\d|$)|([^\d]*)")
_TRIPLE_RE = re.compile(r"(\d+)-(\d+)-(\d+)(?:室|户|号)?")
_PAIR_RE = re.compile(r"(\d+)-(\d+)(号|室|户)?")
_BUILDING_RE = re.compile(r"(\d+|[A-Z])(?:号楼|栋|幢|座)")
_UNIT_RE = re.compile(r"(\d+)单元")
_ROOM_RE = re.compile(r"(\d+)(?:室|户)")
_FLOOR_RE = re.compile(r"(\d+)(?:层|楼)")
_NUMBER_ONLY_RE = re.compile(r"(\d+)号?")
# The longest number an address part is read as: a group, door, building, unit, room or floor
# number has a few digits, and nine fit an INTEGER column. A longer run of digits (a phone
# number, or a paste gone wrong) is left in ``rest``. Numerals of more than _MAX_NUMERAL
# characters stay as written: Python refuses to turn more than 4,300 digits into an int or
# back, and such text is no address anyway.
_MAX_DIGITS = 9
_MAX_NUMERAL = 12


class _NotANumber(ValueError):
    """A run of digits too long to be a part of an address (see _MAX_DIGITS)."""


def _int(digits: str) -> int:
    if len(digits) > _MAX_DIGITS:
        raise _NotANumber(digits)
    return int(digits)


def _numeral_digits(m: re.Match[str]) -> str:
    """A numeral matched in a text, as digits; left as written when too long to be a number."""
    numeral = m.group()
    return str(cn_to_int(numeral)) if len(numeral) <= _MAX_NUMERAL else numeral


def cn_to_int(numeral: str) -> int:
    """十二 → 12, 一百零五 → 105, 二十 → 20, 三零一 → 301 (read digit by digit), 两 → 2."""
    if not numeral or any(c not in _CN_DIGITS and c not in _CN_UNITS for c in numeral):
        raise ValueError(f"{numeral!r} is not a Chinese numeral")
    if not any(c in _CN_UNITS for c in numeral):
        return int("".join(str(_CN_DIGITS[c]) for c in numeral))
    total = current = 0
    for c in numeral:
        if c in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[c]
            current = 0
        else:
            current = _CN_DIGITS[c]
    return total + current


def int_to_cn(n: int) -> str:
    """12 → 十二, 105 → 一百零五, 20 → 二十: the way a number is read, 0 ≤ n ≤ 9999."""
    if not 0 <= n <= 9999:
        raise ValueError(f"{n} is outside 0..9999")
    if n == 0:
        return "零"
    digits = "零一二三四五六七八九"
    out, zero = "", False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += ("" if (unit == 10 and d == 1 and not out) else digits[d]) + name
    return out


def normalise(text: str) -> str:
    """The address as the matcher reads it: half-width, no spaces or punctuation, '#' as 号,
    committee forms shortened (渠头村委会 → 渠头村), and numbers (not names) in digits."""
    s = unicodedata.normalize("NFKC", text).translate(_DASHES).upper()
    s = re.sub(r"(?<=\d)\s+(?=\d)", "_", s)  # 东大街 26 1号楼: two numbers, not 261
    # NFKC again: upper() may decompose (ẖ → H + ̱), and a dropped space may bring a letter and
    # an accent together; else normalising twice would differ from normalising once
    s = unicodedata.normalize("NFKC", _DROP_RE.sub("", s))
    s = s.replace("#", "号")
    before = None
    while before != s:  # until stable: 村村委会委会 shortens twice
        before = s
        for long, short in _COMMITTEE:
            s = s.replace(long, short)
    s = _NUMBER_RE.sub(_numeral_digits, s)
    return re.sub(r"号+", "号", s)


@functools.lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """A place name for comparison: normalised, every numeral in digits (巴公一村 → 巴公1村)."""
    s = normalise(name)
    return _NAME_NUMBER_RE.sub(_numeral_digits, s)


def name_stem(key: str) -> str:
    """A village or community key without its 村/社区 suffix (渠头村 → 渠头)."""
    for suffix in ("社区", "村"):
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


@dataclass
class ParsedAddress:
    """What the parser found at each level; None where the text says nothing."""

    province: str | None = None
    city: str | None = None
    county: str | None = None
    town: str | None = None
    village: str | None = None
    group: int | None = None
    street: str | None = None
    door_number: int | None = None
    door_sub: int | None = None  # 12-1号: the 1
    building: str | None = None
    unit: int | None = None
    room: int | None = None
    floor: int | None = None
    rest: str = ""  # what follows the last part understood (附近, 门口, …)
    normalised: str = ""
    below_town: str = ""  # the text after the administrative prefixes, for the matcher
    bare_town: str | None = None  # a town named without 镇 (巴公), stripped from below_town

    def to_dict(self) -> dict:
        """A JSON-able dict of the parts."""
        return asdict(self)


def parse(text: str, aliases: dict[str, str] | None = None) -> ParsedAddress:
    """Parse a free-text address into its levels.

    ``aliases`` maps names written without their suffix to their level, e.g.
    ``{"山西": "province", "晋城": "city", "泽州": "county", "巴公": "town"}``; without it only
    suffixed administrative names (晋城市, 泽州县, 巴公镇) and province names are recognised.
    """
    s = normalise(text)
    out = ParsedAddress(normalised=s)
    pos = 0
    aliases = aliases or {}
    for level in ADMIN_LEVELS:
        end, bare = _admin_at(s, pos, level, aliases)
        if end is not None:
            setattr(out, level, s[pos:end])
            if bare and level == "town":
                out.bare_town = s[pos:end]
            pos = end
    out.below_town = s[pos:]
    m = _VILLAGE_RE.match(s, pos)
    if m:
        end = m.end() + (1 if s[m.end():m.end() + 1] == "村" and m.group(2) == "村" else 0)
        out.village = s[pos:end]
        pos = end
    _parse_local(s[pos:], out)
    return out


def _admin_at(s: str, pos: int, level: str, aliases: dict[str, str]) -> tuple[int | None, bool]:
    """Where the name of ``level`` starting at ``pos`` ends (None: not there), and whether it
    was a bare alias."""
    m = _ADMIN_PATTERNS[level].match(s, pos)
    if m and not (level == "county" and m.group().endswith(_NOT_COUNTY)):
        return m.end(), False
    for alias, alias_level in aliases.items():
        if alias_level == level and s.startswith(alias, pos):
            after = s[pos + len(alias):]
            # 巴公一村 is a village named after the town, not 巴公 + 一村
            if re.match(rf"[\d{_NAME_NUMERAL}]+(?:村|社区)", after):
                continue
            return pos + len(alias), True
    return None, False


def parse_local(text: str) -> ParsedAddress:
    """Parse the part below the village: group, street, door number, building, unit, room."""
    s = normalise(text)
    out = ParsedAddress(normalised=s, below_town=s)
    _parse_local(s, out)
    return out


def _parse_local(s: str, out: ParsedAddress) -> None:
    pos = 0
    m = _GROUP_RE.match(s)
    if m and len(m.group(1)) <= _MAX_DIGITS:
        out.group = int(m.group(1))
        pos = m.end()
    m = _STREET_RE.match(s, pos)
    assert m is not None  # its second branch matches the empty string
    street = m.group(1) if m.group(1) is not None else m.group(2)
    if street:
        out.street = street
    pos += len(street)
    while pos < len(s):
        if s[pos] == "_":  # the separator normalise left between two numbers
            pos += 1
            continue
        try:
            end = _number_token(s, pos, out)
        except _NotANumber:  # raised before anything is set on ``out``
            break
        if end is None:
            break
        pos = end
    out.rest = s[pos:]


def _number_token(s: str, pos: int, out: ParsedAddress) -> int | None:
    """Read one numbered part at ``pos`` into ``out``; the position after it, or None."""
    if m := _TRIPLE_RE.match(s, pos):  # 1-2-301: building, unit, room
        out.building, out.unit, out.room = m.group(1), _int(m.group(2)), _int(m.group(3))
        return m.end()
    if m := _PAIR_RE.match(s, pos):
        a, b = _int(m.group(1)), _int(m.group(2))
        if out.door_number is None and out.building is None and m.group(3) in (None, "号"):
            out.door_number, out.door_sub = a, b  # 12-1号
        elif out.building is None:
            out.building = m.group(1)
            if b >= 100:
                out.room = b
            else:
                out.unit = b
        else:
            out.unit, out.room = a, b
        return m.end()
    if m := _BUILDING_RE.match(s, pos):
        out.building = m.group(1)
        return m.end()
    if m := _UNIT_RE.match(s, pos):
        out.unit = _int(m.group(1))
        return m.end()
    if m := _ROOM_RE.match(s, pos):
        out.room = _int(m.group(1))
        return m.end()
    if m := _FLOOR_RE.match(s, pos):
        out.floor = _int(m.group(1))
        return m.end()
    if m := _NUMBER_ONLY_RE.match(s, pos):
        n = _int(m.group(1))
        if out.door_number is None and out.building is None and out.unit is None:
            out.door_number = n
        elif out.building is None and _UNIT_RE.match(s, m.end()):
            out.building = m.group(1)  # 24号1号1单元: the second 号 is a building
        elif out.unit is not None or out.building is not None:
            out.room = n
        else:
            return None
        return m.end()
    return None


# -- comparing names ------------------------------------------------------------------------

MARGIN = 5.0  # the best name must beat the next (a different place) by this much
_STEM_WEIGHT = 0.98  # 渠头 for 渠头村, 东寺庄村 for 东寺庄社区: right, but a little less sure


def similarity(a: str, b: str) -> float:
    """How alike two name keys are, 0–100: rapidfuzz's Indel ratio, raised to at least 90 (85,
    80, … for more) when the names have the same length and every differing character sounds
    the same — the typo a pinyin input method makes (渠投村 for 渠头村, 东大姐 for 东大街)."""
    if a == b:
        return 100.0
    score = fuzz.ratio(a, b)
    if len(a) == len(b) and score < 90:
        diffs = [(x, y) for x, y in zip(a, b) if x != y]
        if all(_sounds(x) & _sounds(y) for x, y in diffs):
            score = max(score, 95.0 - 5 * len(diffs))
    return score


@dataclass
class NameMatch:
    """The best name found: its value (None: nothing good enough), score, where it ended in
    the text (``find_prefix``), and whether another place scored about as well."""

    value: str | None
    score: float = 0.0
    end: int = 0
    ambiguous: bool = False


class NameSet:
    """Name keys (from ``name_key``) with the place each names; several places may share a
    key (东大街 in every village), which makes a match on it ambiguous."""

    def __init__(self, items: Iterable[tuple[str, str]], stems: bool = False):
        by_key: dict[str, list[str]] = {}
        for key, value in items:
            by_key.setdefault(key, []).append(value)
        self._keys = list(by_key)
        self._values = [by_key[k] for k in self._keys]
        self._stems = [name_stem(k) for k in self._keys] if stems else None
        self._max_len = max((len(k) for k in self._keys), default=0)

    def find(self, key: str, minimum: float) -> NameMatch:
        """The place whose name is most like ``key``."""
        return self._best([(len(key), key)], minimum)

    def find_prefix(self, text: str, minimum: float) -> NameMatch:
        """The place whose name ``text`` begins with, allowing a typo, a missing character or
        a missing 村/社区; ``end`` is where the name ends in ``text``."""
        spans = [(n, _digits_in_names(text[:n])) for n in range(1, min(len(text), self._max_len + 2) + 1)]
        return self._best(spans, minimum)

    def _best(self, spans: list[tuple[int, str]], minimum: float) -> NameMatch:
        if not self._keys or not spans:
            return NameMatch(None)
        queries = [q for _, q in spans]
        scores = process.cdist(queries, self._keys, scorer=fuzz.ratio)
        if self._stems is not None:
            stem_scores = process.cdist([name_stem(q) for q in queries], self._stems, scorer=fuzz.ratio)
            scores = np.maximum(scores, _STEM_WEIGHT * stem_scores)
        best: dict[str, tuple[float, int]] = {}
        for i, j in zip(*np.nonzero(scores >= min(minimum, 50.0))):
            score = float(scores[i, j])
            if score < 90:  # a homophone typo scores more than the plain ratio says
                score = max(score, similarity(queries[i], self._keys[j]))
                if self._stems is not None:
                    score = max(score, _STEM_WEIGHT * similarity(name_stem(queries[i]), self._stems[j]))
            for value in self._values[j]:
                if (score, spans[i][0]) > best.get(value, (-1.0, 0)):
                    best[value] = (score, spans[i][0])
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or ranked[0][1][0] < minimum:
            return NameMatch(None)
        value, (score, end) = ranked[0]
        ambiguous = len(ranked) > 1 and ranked[1][1][0] >= minimum and score - ranked[1][1][0] < MARGIN
        return NameMatch(value, score, end, ambiguous)


def _digits_in_names(s: str) -> str:
    return _NAME_NUMBER_RE.sub(_numeral_digits, s)


# Readings of every character, from pypinyin's single-character table. Read as a data file
# because importing pypinyin itself loads its phrase dictionary (≈0.3 s); this takes ≈40 ms.
_READINGS: dict[str, str] | None = None
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))  # what accents blur


def load_sounds() -> dict[str, str]:
    """Load the character readings homophone matching uses (once per process)."""
    global _READINGS
    if _READINGS is None:
        spec = importlib.util.find_spec("pypinyin")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("homophone matching needs pypinyin: pip install pypinyin==0.55.0")
        path = Path(spec.submodule_search_locations[0]) / "pinyin_dict.json"
        with path.open(encoding="utf-8") as fh:
            _READINGS = {chr(int(k)): v for k, v in json.load(fh).items()}
    return _READINGS


@functools.lru_cache(maxsize=8192)
def _sounds(ch: str) -> frozenset[str]:
    """A character's readings without tones, with zh/z, ch/c, sh/s, n/l, -ng/-n merged."""
    if ch.isdecimal():  # not isdigit(): ² and 𐩀 are digits that int() does not read
        ch = "零一二三四五六七八九"[int(ch)]
    raw = load_sounds().get(ch)
    if raw is None:
        return frozenset()
    out = set()
    for reading in raw.split(","):
        s = "".join(c for c in unicodedata.normalize("NFD", reading) if unicodedata.category(c) != "Mn")
        for a, b in _FUZZY_INITIALS:
            if s.startswith(a):
                s = b + s[len(a):]
                break
        if s.endswith("ng") and s not in ("ng",) and s[-3] in "ie":
            s = s[:-1]
        out.add(s)
    return frozenset(out)
