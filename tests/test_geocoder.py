"""The geocoder (geo.geocoder, cases.geocoding) on the Bagong demo: real standard addresses
written the ways people write them, and hand-made rows where the demo has no such case."""

from __future__ import annotations

import math

import psycopg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row
from sqlalchemy import text

from cases import geocoding
from db.session import session_scope
from demo.load import conninfo
from geo.address import int_to_cn
from geo.geocoder import AddressIndex, haversine_m

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _all(url: str, sql: str, *params) -> list[dict]:
    with psycopg.connect(conninfo(url), row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def index(demo_db_url) -> AddressIndex:
    with session_scope(demo_db_url) as s:
        return geocoding.address_index(s)


@pytest.fixture(scope="module")
def doors(demo_db_url) -> list[dict]:
    """One ordinary house per village (no flats), spread over its streets and door numbers."""
    return _all(demo_db_url, """
        SELECT DISTINCT ON (village_code) id, full_text, village, village_code, group_name, street,
               door_number, ST_X(geom) AS lon, ST_Y(geom) AS lat
        FROM addresses WHERE building IS NULL AND street IS NOT NULL AND door_number BETWEEN 3 AND 19
        ORDER BY village_code, md5(id::text)""")


def _group_digits(group: str) -> str:
    from geo.address import normalise

    return normalise(group)


# The ways people write a house's address (the standard text is 山西省晋城市泽州县巴公镇渠头村一组东大街12号).
FORMS = {
    "standard": lambda r: r["full_text"],
    "town_only_prefix": lambda r: f"巴公镇{r['village']}{r['street']}{r['door_number']}号",
    "no_prefix": lambda r: f"{r['village']}{r['street']}{r['door_number']}号",
    "prefixes_without_suffixes": lambda r: f"山西晋城泽州巴公{r['village']}{r['street']}{r['door_number']}号",
    "county_and_town": lambda r: f"泽州县巴公镇{r['village']}{r['street']}{r['door_number']}号",
    "group_in": lambda r: f"{r['village']}{r['group_name']}{r['street']}{r['door_number']}号",
    "group_in_digits": lambda r: f"{r['village']}{_group_digits(r['group_name'])}{r['street']}{r['door_number']}号",
    "full_width_digits": lambda r: f"{r['village']}{r['street']}{str(r['door_number']).translate(FULL_WIDTH)}号",
    "chinese_numerals": lambda r: f"{r['village']}{r['street']}{int_to_cn(r['door_number'])}号",
    "hash": lambda r: f"{r['village']}{r['street']}{r['door_number']}#",
    "no_hao": lambda r: f"{r['village']}{r['street']}{r['door_number']}",
    "spaces": lambda r: f"巴公镇 {r['village']} {r['street']} {r['door_number']} 号",
    "committee": lambda r: f"{r['village']}委会{r['street']}{r['door_number']}号",
    "no_cun": lambda r: f"{r['village'][:-1]}{r['street']}{r['door_number']}号",
    "sub_number": lambda r: f"{r['village']}{r['street']}{r['door_number']}-1号",
    "somewhere_near": lambda r: f"{r['village']}{r['street']}{r['door_number']}号附近",
}


@pytest.mark.parametrize("form", FORMS)
def test_a_house_written_any_usual_way_geocodes_to_its_door(index, doors, form):
    wrong = []
    for r in doors:
        text = FORMS[form](r)
        got = index.geocode(text)
        if got is None or got.precision != "door" or got.address_id != r["id"] or got.interpolated:
            wrong.append((text, got and (got.precision, got.matched)))
        elif haversine_m(got.lon, got.lat, r["lon"], r["lat"]) > 0.01:
            wrong.append((text, "moved"))
    assert wrong == []


def test_the_sub_number_of_a_door_is_kept_in_what_was_parsed(index, doors):
    r = doors[0]
    got = index.geocode(f"{r['village']}{r['street']}{r['door_number']}-2号")
    assert got.door_number == r["door_number"] and got.parsed["door_sub"] == 2


def test_every_standard_address_geocodes_to_itself(index):
    wrong = [r["full_text"] for r in index.rows
             if (g := index.geocode(r["full_text"])) is None or g.precision != "door" or g.address_id != r["id"]]
    assert wrong == []


def test_a_community_flat_geocodes_to_that_flat_however_written(index, demo_db_url):
    flats = _all(demo_db_url, """
        SELECT DISTINCT ON (village_code) id, village, street, door_number, building, unit, room
        FROM addresses WHERE building IS NOT NULL ORDER BY village_code, md5(id::text)""")
    assert len(flats) == 2
    for f in flats:
        v, s, d, b, u, room = f["village"], f["street"], f["door_number"], f["building"], f["unit"], f["room"]
        for written in (f"{v}{s}{d}号{b}号楼{u}单元{room}室", f"巴公镇{v}{s}{d}号{b}栋{u}单元{room}户",
                        f"{v}{s}{d}号{b}-{u}-{room}",
                        f"{v}{s}{int_to_cn(d)}号{int_to_cn(int(b))}号楼{int_to_cn(int(u))}单元{room}室",
                        f"{v[:-2]}居委会{s}{d}#{b}#楼{u}单元{room}", f"{v}{s}{b}号楼{u}单元{room}室"):
            got = index.geocode(written)
            assert (got.precision, got.address_id) == ("door", f["id"]), written


def test_a_community_gate_without_a_flat_is_a_door_with_the_gate_as_matched_text(index, demo_db_url):
    gate = _all(demo_db_url, "SELECT village, street, door_number FROM addresses WHERE building IS NOT NULL LIMIT 1")[0]
    got = index.geocode(f"{gate['village']}{gate['street']}{gate['door_number']}号")
    assert got.precision == "door" and got.address_id is None
    assert got.matched.endswith(f"{gate['street']}{gate['door_number']}号")


# -- the pair: 渠头村东街12号 vs 渠头村东大街十二号 --------------------------------------------


def test_dongjie_and_dongdajie_shierhao_are_the_same_door(index, demo_db_url):
    known = [r["door_number"] for r in _all(demo_db_url, """
        SELECT door_number FROM addresses WHERE village = '渠头村' AND street = '东大街' ORDER BY door_number""")]
    assert known, "the demo has 渠头村东大街"
    door = min(known, key=lambda d: abs(d - 12))  # 12 in the seed-7 demo
    assert index.villages["140525108227"].streets.get("东街") is None  # only 东大街 there
    written = index.geocode(f"渠头村东大街{int_to_cn(door)}号")
    short = index.geocode(f"渠头村东街{door}号")
    assert written.precision == short.precision == "door"
    assert written.address_id == short.address_id is not None
    assert (written.village, written.street, written.door_number) == ("渠头村", "东大街", door)
    assert short.score < written.score == 100


# -- typos ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, village, street", [
    ("渠投村东大街3号", "渠头村", "东大街"),  # a homophone in the village
    ("渠头村东大姐3号", "渠头村", "东大街"),  # a homophone in the street
    ("渠投村东大姐3号", "渠头村", "东大街"),  # both
    ("兴王装村东大街3号", "兴王庄村", "东大街"),
    ("靳疙塔村西大街3号", "靳圪塔村", "西大街"),
    ("柏杨村东大街3号", "柏杨坪村", "东大街"),  # a missing character
    ("渠头村东大3号", "渠头村", "东大街"),
    ("巴工镇渠头村东大街3号", "渠头村", "东大街"),  # a homophone in the town
])
def test_one_wrong_or_missing_character_still_matches_with_a_lower_score(index, text, village, street):
    got = index.geocode(text)
    assert got is not None, text
    assert (got.village, got.street, got.door_number, got.precision) == (village, street, 3, "door")
    assert 60 <= got.score < 100


# -- interpolation -------------------------------------------------------------------------


def test_a_missing_door_between_known_neighbours_is_interpolated(demo_db_url):
    with session_scope(demo_db_url) as s:
        rows = geocoding.index_rows(s)
    target = next(r for r in rows["addresses"]
                  if r["village"] == "渠头村" and r["street"] == "东大街" and r["door_number"] == 12)
    rows["addresses"] = [r for r in rows["addresses"] if r["id"] != target["id"]]  # 10 and 14 stay
    got = AddressIndex(**rows).geocode("渠头村东大街12号")
    assert (got.precision, got.interpolated, got.door_number, got.address_id) == ("door", True, 12, None)
    assert got.matched == target["full_text"]
    assert haversine_m(got.lon, got.lat, target["lon"], target["lat"]) < 3.0
    assert got.score < 100


def _hand_made_index(line_m, doors, with_line=True) -> tuple[AddressIndex, callable]:
    """One village with one street whose line is ``line_m`` (metres east/north of the town
    point) and doors {number: (x, y)} in metres."""
    lon0, lat0 = 112.87, 35.64
    kx = 6_371_008.8 * math.cos(math.radians(lat0)) * math.pi / 180
    ky = 6_371_008.8 * math.pi / 180

    def lonlat(x, y):
        return lon0 + x / kx, lat0 + y / ky

    town = {"name": "巴公镇", "county": "泽州县", "city": "晋城市", "province": "山西省", "lon": lon0, "lat": lat0}
    village = {"code": "140525108227", "name": "渠头村", "lon": lon0, "lat": lat0}
    street = {"village_code": "140525108227", "name": "东大街",
              "coords": [lonlat(x, y) for x, y in line_m] if with_line else None}
    addresses = []
    for n, (x, y) in sorted(doors.items()):
        lon, lat = lonlat(x, y)
        addresses.append({"id": n, "full_text": f"山西省晋城市泽州县巴公镇渠头村一组东大街{n}号", "village": "渠头村",
                          "village_code": "140525108227", "group_name": "一组", "street": "东大街",
                          "door_number": n, "lon": lon, "lat": lat})
    return AddressIndex(addresses, [street], [village], town), lonlat


# An L-shaped street: 100 m east, then 100 m north. Odd doors 8 m to its left, at 10 m per
# number along it; even doors 2 and 4 on the right.
BENT = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0)]


def _left_of_bent(along: float) -> tuple[float, float]:
    return (along, 8.0) if along <= 100 else (92.0, along - 100.0)


BENT_DOORS = {1: _left_of_bent(10), 3: _left_of_bent(30), 7: _left_of_bent(70), 13: _left_of_bent(130),
              2: (20.0, -8.0), 4: (40.0, -8.0)}


@pytest.mark.parametrize("door", [5, 9, 11])
def test_interpolation_follows_the_street_line_round_a_bend(door):
    idx, lonlat = _hand_made_index(BENT, BENT_DOORS)
    got = idx.geocode(f"渠头村东大街{door}号")
    assert (got.precision, got.interpolated) == ("door", True)
    expected = lonlat(*_left_of_bent(10.0 * door))
    assert haversine_m(got.lon, got.lat, *expected) < 0.5


def test_interpolation_without_a_street_line_goes_straight_between_the_neighbours():
    idx, lonlat = _hand_made_index(BENT, {1: (10.0, 8.0), 5: (50.0, 8.0)}, with_line=False)
    got = idx.geocode("渠头村东大街3号")
    assert (got.precision, got.interpolated) == ("door", True)
    assert haversine_m(got.lon, got.lat, *lonlat(30.0, 8.0)) < 0.5


def test_a_door_is_never_interpolated_from_the_other_side_of_the_street():
    idx, lonlat = _hand_made_index(BENT, BENT_DOORS)
    got = idx.geocode("渠头村东大街6号")  # even doors known: 2 and 4 only, so 6 is beyond them
    assert (got.precision, got.interpolated, got.door_number) == ("street", False, None)
    assert haversine_m(got.lon, got.lat, *lonlat(40.0, -8.0)) < 0.5  # at the nearest even door


def test_a_door_beyond_the_known_range_is_street_level_at_the_nearest_known_door():
    idx, lonlat = _hand_made_index(BENT, BENT_DOORS)
    got = idx.geocode("渠头村东大街21号")
    assert got.precision == "street" and got.street == "东大街"
    assert haversine_m(got.lon, got.lat, *lonlat(*BENT_DOORS[13])) < 0.5


def test_a_known_door_is_not_interpolated():
    idx, _ = _hand_made_index(BENT, BENT_DOORS)
    got = idx.geocode("渠头村东大街7号")
    assert (got.precision, got.interpolated, got.address_id) == ("door", False, 7)


# -- street, village and town ----------------------------------------------------------------


def _distance_to_street_m(url, village_code, street, lon, lat) -> float:
    return _all(url, """SELECT ST_Distance(geom::geography, ST_SetSRID(ST_Point(%s, %s), 4326)::geography) AS d
                        FROM streets WHERE village_code = %s AND name = %s""", lon, lat, village_code, street)[0]["d"]


def test_a_street_without_a_door_is_street_level_on_the_street(index, demo_db_url):
    got = index.geocode("巴公镇渠头村东大街")
    assert (got.precision, got.village_code, got.street, got.door_number) == ("street", "140525108227", "东大街", None)
    assert got.matched == "巴公镇渠头村东大街"
    assert _distance_to_street_m(demo_db_url, "140525108227", "东大街", got.lon, got.lat) < 1.0


def test_a_door_past_the_end_of_a_demo_street_is_street_level(index, demo_db_url):
    top = _all(demo_db_url, """SELECT max(door_number) AS n FROM addresses
                               WHERE village = '渠头村' AND street = '东大街'""")[0]["n"]
    got = index.geocode(f"渠头村东大街{top + 20}号")
    assert got.precision == "street" and got.street == "东大街" and not got.interpolated


def _covered(url, table_sql: str, lon, lat, *params) -> bool:
    return _all(url, f"SELECT ST_Covers(geom, ST_SetSRID(ST_Point(%s, %s), 4326)) AS c FROM {table_sql}",
                lon, lat, *params)[0]["c"]


@pytest.mark.parametrize("text", ["渠头村", "巴公镇渠头村", "渠头村委会", "山西省晋城市泽州县巴公镇渠头村三组",
                                  "渠头村人民路5号", "渠头村12号", "渠头"])
def test_a_village_without_a_street_of_ours_is_village_level_inside_the_village(index, demo_db_url, text):
    got = index.geocode(text)
    assert (got.precision, got.village_code, got.village, got.matched) == ("village", "140525108227", "渠头村", "渠头村")
    assert got.street is None and got.door_number is None
    assert _covered(demo_db_url, "grids WHERE code = %s AND valid_to IS NULL", got.lon, got.lat, "140525108227000")


def test_a_community_flat_without_its_street_is_village_level(index):
    got = index.geocode("东寺庄社区1号楼1单元101室")
    assert (got.precision, got.village) == ("village", "东寺庄社区")


@pytest.mark.parametrize("text", ["巴公镇", "巴公", "山西省晋城市泽州县巴公镇", "泽州县", "晋城市泽州县",
                                  "巴公镇东大街12号", "巴公镇人民政府", "巴公村东大街5号"])
def test_only_the_town_is_town_level_at_the_town_point(index, demo_db_url, text):
    got = index.geocode(text)
    assert (got.precision, got.matched, got.village_code) == ("town", "巴公镇", None)
    assert _covered(demo_db_url, "towns", got.lon, got.lat)


def test_a_street_unique_in_the_town_finds_its_village_without_one():
    # the demo has none (every village draws from one pool of names), so: two villages, both
    # with a 东大街, one with a 建设路
    town = {"name": "巴公镇", "county": "泽州县", "city": "晋城市", "province": "山西省", "lon": 112.87, "lat": 35.64}
    villages = [{"code": "140525108227", "name": "渠头村", "lon": 112.87, "lat": 35.64},
                {"code": "140525108217", "name": "李村村", "lon": 112.88, "lat": 35.65}]
    rows = [{"id": i, "full_text": f"{v}{s}3号", "village": v, "village_code": c, "street": s, "door_number": 3,
             "lon": 112.87 + i / 1000, "lat": 35.64}
            for i, (v, c, s) in enumerate([("渠头村", "140525108227", "东大街"), ("李村村", "140525108217", "东大街"),
                                           ("李村村", "140525108217", "建设路")])]
    idx = AddressIndex(rows, [], villages, town)
    got = idx.geocode("建设路3号")
    assert (got.precision, got.village, got.address_id) == ("door", "李村村", 2)
    assert got.score < 100
    assert idx.geocode("东大街3号") is None  # in both villages, and no town named
    assert idx.geocode("巴公镇东大街3号").precision == "town"


# -- elsewhere -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "北京市朝阳区建国路88号", "北京朝阳区建国路88号", "山西省太原市小店区体育路5号", "陕西省西安市雁塔区东大街12号",
    "晋城市城区东大街12号", "泽州县大箕镇渠头村东大街12号", "山西省高平市东大街1号", "巴公镇王家峪村5号",
    "张庄村东大街5号", "东大街12号", "建国路88号", "hello", "12",
])
def test_an_address_elsewhere_is_not_forced_onto_our_town(index, text):
    assert index.geocode(text) is None


# -- reverse ---------------------------------------------------------------------------------


def test_reverse_finds_the_nearest_standard_address_as_postgis_does(index, demo_db_url, doors):
    for r in doors[:10]:
        lon, lat = r["lon"] + 0.00004, r["lat"] + 0.00002  # a few metres off
        row, d = index.reverse(lon, lat)
        nearest = _all(demo_db_url, """
            SELECT id, ST_Distance(geom::geography, ST_SetSRID(ST_Point(%s, %s), 4326)::geography) AS d
            FROM addresses ORDER BY geom::geography <-> ST_SetSRID(ST_Point(%s, %s), 4326)::geography LIMIT 1""",
            lon, lat, lon, lat)[0]
        assert abs(d - nearest["d"]) < 0.05
        assert row["id"] == nearest["id"] or abs(haversine_m(lon, lat, row["lon"], row["lat"]) - nearest["d"]) < 0.05


def test_reverse_of_a_standard_address_point_is_that_address(index, doors):
    r = doors[0]
    row, d = index.reverse(r["lon"], r["lat"])
    assert row["id"] == r["id"] and d < 0.01


def test_reverse_far_from_any_address_is_none(index):
    assert index.reverse(116.40, 39.90) is None
    assert index.reverse(112.87, 35.50, max_distance_m=2000) is None


# -- the per-process cache ---------------------------------------------------------------------


def test_the_cached_index_is_reused_until_the_address_table_changes(demo_copy_url):
    with session_scope(demo_copy_url) as s:
        first = geocoding.address_index(s)
        assert geocoding.address_index(s) is first
        top = s.execute(text(
            "SELECT max(door_number) FROM addresses WHERE village = '渠头村' AND street = '东大街'")).scalar()
        new_door = top + 2
        assert geocoding.geocode(s, f"渠头村东大街{new_door}号").precision == "street"
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        new_id = conn.execute("""
            INSERT INTO addresses (full_text, province, city, county, town, village, village_code, group_name,
                                   street, door_number, grid_code, town_code, geom)
            SELECT replace(full_text, door_number || '号', %s || '号'), province, city, county, town, village,
                   village_code, group_name, street, %s, grid_code, town_code, ST_Translate(geom, 0.0001, 0)
            FROM addresses WHERE village = '渠头村' AND street = '东大街' AND door_number = %s
            RETURNING id""", (str(new_door), new_door, top)).fetchone()[0]
    with session_scope(demo_copy_url) as s:
        got = geocoding.geocode(s, f"渠头村东大街{new_door}号")
        assert (got.precision, got.address_id) == ("door", new_id)
        assert geocoding.address_index(s) is not first
        assert geocoding.reverse(s, got.lon, got.lat)["address"]["id"] == new_id


def test_a_database_without_a_town_geocodes_nothing(empty_db_url):
    with session_scope(empty_db_url) as s:
        assert geocoding.geocode(s, "巴公镇渠头村东大街12号") is None
        assert geocoding.reverse(s, 112.87, 35.64) is None


@pytest.mark.parametrize("village, written", [
    ("巴公一村", "巴公一村"), ("巴公一村", "巴公1村"), ("巴公二村", "巴公2村"), ("巴公三村", "巴公镇巴公三村"),
    ("巴公四村", "山西晋城泽州巴公巴公四村"), ("李村村", "李村村"), ("来村村", "来村村委会"),
    ("东寺庄社区", "东寺庄"), ("东郜社区", "东郜社区居委会"),
])
def test_villages_named_after_the_town_or_ending_in_cun_twice_are_told_apart(index, demo_db_url, village, written):
    r = _all(demo_db_url, "SELECT id, street, door_number FROM addresses WHERE village = %s ORDER BY id LIMIT 1",
             village)[0]
    got = index.geocode(f"{written}{r['street']}{r['door_number']}号")
    assert (got.village, got.precision) == (village, "door")
    assert got.address_id == r["id"] or got.address_id is None  # a community gate without its flat


@settings(max_examples=300, deadline=None)
@given(written=st.text(alphabet="山西省晋城泽州县巴公镇渠头村一二三十百零两组东大街巷路号楼栋单元室#-－ 　１２0123456789社区居委会附近A_",
               max_size=40) | st.text(max_size=40))
@example(written="渠\U00010a40村东大街1号")  # a digit to isdigit() that int() cannot read
@example(written="渠头村东大街" + "1" * 5000 + "号")  # more digits than Python makes an int of
def test_geocode_never_fails_on_any_text(index, written):
    got = index.geocode(written)
    if got is not None:
        assert got.precision in ("door", "street", "village", "town") and 0 <= got.score <= 100
        assert got.to_dict()["precision"] == got.precision


def test_street_level_points_fall_in_a_leaf_grid_of_the_streets_addresses(index, demo_db_url):
    """What routing does with them (a street-level point goes to its leaf grid), checked for
    every demo street, with no door and with a door past its end."""
    wrong = []
    with psycopg.connect(conninfo(demo_db_url)) as conn:
        for v in index.villages.values():
            for street in v.streets.values():
                grids = {index.rows[i]["grid_code"] for i in street.rows}
                for written in (f"{v.name}{street.name}", f"{v.name}{street.name}{max(street.doors) + 7}号"):
                    got = index.geocode(written)
                    found = {c for (c,) in conn.execute(
                        "SELECT code FROM grid_parts WHERE level <> 'admin' "
                        "AND ST_Covers(geom, ST_SetSRID(ST_Point(%s, %s), 4326))", (got.lon, got.lat))}
                    if got.precision != "street" or not found & grids:
                        wrong.append(written)
    assert wrong == []
