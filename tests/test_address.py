"""Normalising and parsing Chinese addresses (geo.address): pure, no database."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geo.address import (
    NameSet,
    cn_to_int,
    int_to_cn,
    name_key,
    normalise,
    parse,
    parse_local,
    similarity,
)

OURS = {"山西": "province", "晋城": "city", "泽州": "county", "巴公": "town"}
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


# -- numerals ------------------------------------------------------------------------------


@pytest.mark.parametrize("numeral, value", [
    ("一", 1), ("十", 10), ("十二", 12), ("二十", 20), ("二十四", 24), ("一百", 100), ("一百零五", 105),
    ("一百一十", 110), ("九百九十九", 999), ("一千零一", 1001), ("两", 2), ("三零一", 301), ("一〇五", 105),
])
def test_chinese_numerals_read_as_integers(numeral, value):
    assert cn_to_int(numeral) == value


def test_a_non_numeral_is_refused_with_the_text_in_the_message():
    with pytest.raises(ValueError, match="东"):
        cn_to_int("东")


@settings(deadline=None)  # timing is not what these test; a loaded machine is slow
@given(st.integers(1, 9999))
def test_digits_to_chinese_numerals_and_back_round_trip(n):
    assert cn_to_int(int_to_cn(n)) == n


@settings(deadline=None)
@given(st.integers(1, 999))
def test_a_door_number_in_chinese_numerals_normalises_to_its_digits(n):
    assert normalise(f"渠头村东大街{int_to_cn(n)}号") == f"渠头村东大街{n}号"
    assert parse(f"东大街{int_to_cn(n)}号").door_number == n


@settings(deadline=None)
@given(st.integers(1, 999))
def test_full_width_digits_normalise_to_ascii(n):
    assert normalise(f"东大街{str(n).translate(FULL_WIDTH)}号") == f"东大街{n}号"


@settings(deadline=None)
@given(st.text(alphabet="渠头村东大街巷一二三十百零号组栋单元室#－- 　１２3委会社区居民楼-", max_size=30))
@example("村村委会委会")
@example("东大街 12 3")
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once


# -- normalise -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("ＡＢＣ１２３，＃－", "ABC123号-"),
    ("渠头村 东大街　12 号", "渠头村东大街12号"),
    ("东大街12#", "东大街12号"),
    ("东大街12－1号", "东大街12-1号"),
    ("东大街十二号", "东大街12号"),
    ("东大街一百零五号", "东大街105号"),
    ("渠头村三组", "渠头村3组"),
    ("东大街二十", "东大街20"),
    ("渠头村委会", "渠头村"),
    ("渠头村村民委员会", "渠头村村"),
    ("东寺庄社区居委会", "东寺庄社区"),
    ("东寺庄社区居民委员会", "东寺庄社区"),
    ("1号楼二单元三零一室", "1号楼2单元301室"),
])
def test_normalise(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize("name", ["巴公一村", "巴公二村", "东一巷", "二仙掌村", "三家店村", "东四义村"])
def test_numerals_inside_names_are_left_as_written(name):
    assert normalise(name) == name
    assert normalise(f"{name}五组") == f"{name}5组"


def test_a_name_key_reads_numerals_in_names_as_digits_on_both_sides():
    assert name_key("巴公一村") == name_key("巴公1村") == "巴公1村"
    assert name_key("东一巷") == name_key("东1巷")
    assert name_key("巴公一村") != name_key("巴公二村")


# -- parse: each part ----------------------------------------------------------------------


def test_parse_reads_every_level_of_a_standard_address():
    p = parse("山西省晋城市泽州县巴公镇渠头村三组东大街12号")
    assert (p.province, p.city, p.county, p.town) == ("山西省", "晋城市", "泽州县", "巴公镇")
    assert (p.village, p.group, p.street, p.door_number) == ("渠头村", 3, "东大街", 12)
    assert p.rest == ""


def test_parse_strips_prefixes_written_without_their_suffix():
    p = parse("山西晋城泽州巴公渠头村东大街12号", OURS)
    assert (p.province, p.city, p.county, p.town, p.village) == ("山西", "晋城", "泽州", "巴公", "渠头村")
    assert p.below_town == "渠头村东大街12号"


def test_parse_does_not_take_the_town_out_of_a_village_named_after_it():
    p = parse("巴公一村东大街5号", OURS)
    assert p.town is None and p.village == "巴公一村"
    assert parse("巴公2村东大街5号", OURS).village == "巴公2村"


def test_parse_reads_a_village_whose_name_ends_in_cun_twice():
    assert parse("李村村东大街3号").village == "李村村"


def test_parse_reads_a_community_and_its_flat():
    p = parse("东寺庄社区东大街24号1号楼2单元301室")
    assert (p.village, p.street, p.door_number) == ("东寺庄社区", "东大街", 24)
    assert (p.building, p.unit, p.room) == ("1", 2, 301)


@pytest.mark.parametrize("local, building, unit, room", [
    ("东大街24号1号楼2单元301室", "1", 2, 301),
    ("东大街24号1栋2单元301户", "1", 2, 301),
    ("东大街24号1幢2单元301", "1", 2, 301),
    ("东大街24号1#楼2单元301室", "1", 2, 301),
    ("东大街24号1-2-301", "1", 2, 301),
    ("东大街24号一号楼二单元三零一室", "1", 2, 301),
    ("东大街24号A座2单元301室", "A", 2, 301),
    ("东大街24号1号2单元301室", "1", 2, 301),
    ("东大街 24 1号楼 2单元 301室", "1", 2, 301),  # a space between two numbers separates them
])
def test_parse_reads_building_unit_and_room_however_written(local, building, unit, room):
    p = parse_local(local)
    assert (p.street, p.door_number) == ("东大街", 24)
    assert (p.building, p.unit, p.room) == (building, unit, room)


@pytest.mark.parametrize("local, door, sub", [
    ("东大街12号", 12, None), ("东大街12", 12, None), ("东大街12#", 12, None), ("东大街 12", 12, None),
    ("东大街12-1号", 12, 1), ("东大街12-1", 12, 1), ("东大街十二号", 12, None), ("东大街１２号", 12, None),
])
def test_parse_reads_the_door_number_and_keeps_its_sub_number(local, door, sub):
    p = parse(local)
    assert (p.street, p.door_number, p.door_sub) == ("东大街", door, sub)


@pytest.mark.parametrize("text, group", [("渠头村三组", 3), ("渠头村第三组", 3), ("渠头村3组东大街1号", 3),
                                         ("渠头村十二组", 12), ("渠头村三队", 3), ("渠头村第三村民小组", 3)])
def test_parse_reads_the_villager_group(text, group):
    assert parse(text).group == group


@pytest.mark.parametrize("local, street", [
    ("东一巷5号", "东一巷"), ("东1巷5号", "东1巷"), ("建设路5号", "建设路"), ("东大姐5号", "东大姐"),
    ("东大街北段5号", "东大街北段"), ("和平巷", "和平巷"),
])
def test_parse_reads_the_street_including_lanes_with_numbers(local, street):
    assert parse_local(local).street == street


def test_parse_keeps_what_follows_the_address_as_rest():
    p = parse("渠头村东大街12号附近")
    assert p.door_number == 12 and p.rest == "附近"


def test_parse_reads_another_provinces_address_as_such():
    p = parse("北京市朝阳区建国路88号")
    assert (p.province, p.county, p.street, p.door_number) == ("北京市", "朝阳区", "建国路", 88)
    assert parse("陕西省西安市雁塔区").province == "陕西省"


def test_parse_does_not_read_a_community_or_compound_as_a_county():
    assert parse("东寺庄社区东大街1号").county is None
    assert parse("幸福小区3号楼").county is None


def test_parse_does_not_read_a_street_named_after_a_province_as_one():
    assert parse("河南村东大街1号").province is None


def test_a_province_written_with_its_suffix_is_one_whatever_follows():
    # found by test_a_generated_standard_address_parses_back_to_its_parts (河北省庄东市…)
    p = parse("辽宁省庄河市城关街道")
    assert (p.province, p.city, p.town) == ("辽宁省", "庄河市", "城关街道")


# -- comparing names -----------------------------------------------------------------------


def test_a_homophone_typo_scores_high_and_a_different_name_low():
    assert similarity("渠投村", "渠头村") >= 90
    assert similarity("东大姐", "东大街") >= 90
    assert similarity("张庄村", "靳庄村") < 70


def test_a_name_set_finds_a_village_at_the_start_of_the_text_despite_typos():
    names = NameSet([("渠头村", "qt"), ("东头村", "dt"), ("李村村", "lc")], stems=True)
    assert (names.find_prefix("渠头村东大街12号", 70).value, names.find_prefix("渠头村东大街12号", 70).end) == ("qt", 3)
    assert names.find_prefix("渠投村东大街", 70).value == "qt"
    assert names.find_prefix("渠头东大街", 70).end == 2
    assert names.find_prefix("李村村东大街", 70).end == 3
    assert names.find_prefix("张庄村东大街", 70).value is None


def test_a_name_shared_by_two_places_is_ambiguous():
    names = NameSet([("东大街", "v1"), ("东大街", "v2"), ("建设路", "v1")])
    assert names.find("东大街", 60).ambiguous
    assert not names.find("建设路", 60).ambiguous


# -- properties ----------------------------------------------------------------------------

ADDRESS_CHARS = "山西省晋城市泽州县巴公镇渠头村社区组号楼栋单元室层户东大街巷路一二三十百千零〇两第#-－_ 　１２0123456789"
LONG_DIGITS = "1" * 5000  # more digits than Python turns into an int (its limit is 4,300)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=60) | st.text(alphabet=ADDRESS_CHARS, max_size=60))
@example(text=f"东大街{LONG_DIGITS}号")
@example(text="一" * 5000 + "号")
@example(text=f"渠头村{LONG_DIGITS}组东大街1号")
@example(text=f"东大街1-{LONG_DIGITS}")
@example(text=f"东大街12号{LONG_DIGITS}单元")
@example(text="巴公" + "三" * 5000 + "村")
def test_parsing_never_raises_and_reads_numbers_that_fit_a_column(text):
    """Whatever the text, the parser answers, and every number it reads has at most nine
    digits (a longer run of digits is left in ``rest``)."""
    for parsed in (parse(text), parse(text, OURS), parse_local(text)):
        for part in ("group", "door_number", "door_sub", "unit", "room", "floor"):
            value = getattr(parsed, part)
            assert value is None or 0 <= value <= 999_999_999, (part, value)
    assert normalise(normalise(text)) == normalise(text)
    name_key(text)


def test_a_door_number_too_long_to_be_one_is_left_as_the_rest():
    p = parse(f"渠头村东大街{LONG_DIGITS}号")
    assert (p.village, p.street, p.door_number) == ("渠头村", "东大街", None)
    assert p.rest == f"{LONG_DIGITS}号"
    assert parse("渠头村东大街12号13800138000").door_number == 12  # a phone number after it


# Characters of made-up place names: none is a level's suffix (省市县区镇乡村社组号…), a street's
# (街路巷道里弄线), a numeral, or the start of an exception the parser knows (小区, 园区, 大街).
NAME = st.text(alphabet="东西南北新华安平阳和兴福金山水桥庄王李张马杨黄高宋赵刘陈田白石龙凤", min_size=2,
               max_size=3)
PROVINCES_WITH_SHENG = [p + "省" for p in ("河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
                                           "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南",
                                           "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃")]


@st.composite
def standard_addresses(draw) -> tuple[str, dict]:
    """A standard address (DOMAIN.md: 省/市/县/乡镇/村·社区/组/街路巷/门牌号) and its parts, the
    door number in digits or in Chinese numerals, the group there or not."""
    parts = {
        "province": draw(st.sampled_from(PROVINCES_WITH_SHENG)),
        "city": draw(NAME) + "市",
        "county": draw(NAME) + draw(st.sampled_from(["县", "区"])),
        "town": draw(NAME) + draw(st.sampled_from(["镇", "乡"])),
        "village": draw(NAME) + draw(st.sampled_from(["村", "社区"])),
        "group": draw(st.none() | st.integers(1, 20)),
        "street": draw(NAME) + draw(st.sampled_from(["街", "路", "巷", "大街"])),
        "door_number": draw(st.integers(1, 999)),
    }
    door = draw(st.sampled_from([str, int_to_cn]))(parts["door_number"])
    group = "" if parts["group"] is None else f"{parts['group']}组"
    text = (f"{parts['province']}{parts['city']}{parts['county']}{parts['town']}"
            f"{parts['village']}{group}{parts['street']}{door}号")
    return text, parts


@settings(max_examples=100, deadline=None)
@given(standard_addresses())
def test_a_generated_standard_address_parses_back_to_its_parts(address):
    text, parts = address
    parsed = parse(text)
    assert {k: getattr(parsed, k) for k in parts} == parts, text
    assert parsed.rest == ""
