"""Tests for recsys.data (and the format sniffing in recsys.data.formats): every format, column detection,
cleaning with per-reason counts, id encoding, item metadata, the report, and specific error messages."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recsys.data import (DEFAULT_MAX_BYTES, MOVIELENS_GENRES, SUPPORTED_FORMATS_HELP, DataError, Dataset,
                         build_dataset, load_dataset, load_item_metadata, sniff_columns)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

EVENTS_CSV = b"user_id,item_id,rating,timestamp\nu1,i1,5,100\nu1,i2,3,200\nu2,i1,4,150\nu2,i3,2,50\n"

REPORT_KEYS = {
    "name", "format", "format_details", "columns", "rows_read", "rows_kept", "dropped", "n_interactions",
    "n_users", "n_items", "n_catalog_items", "n_cold_items", "density", "n_duplicate_events",
    "min_events_per_user", "median_events_per_user", "share_users_under_3_events", "has_timestamps",
    "timestamp_unit", "first_event", "last_event", "time_span_days", "has_ratings", "rating_kind", "rating_min",
    "rating_max", "n_items_with_text", "n_items_with_categories", "metadata", "warnings",
}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return buffer.getvalue()


def events_of(ds: Dataset) -> list[tuple]:
    """Events as (user id, item id, rating, timestamp) tuples with original ids."""
    return [(ds.user_ids[u], ds.item_ids[i], float(r), int(t))
            for u, i, r, t in ds.events.itertuples(index=False)]


# --------------------------------------------------------------------------------------------- formats


def test_csv_with_header_gives_typed_sorted_events():
    ds = load_dataset(EVENTS_CSV, name="events.csv")
    assert list(ds.events.columns) == ["user", "item", "rating", "timestamp"]
    assert [str(t) for t in ds.events.dtypes] == ["int32", "int32", "float32", "int64"]
    assert isinstance(ds.events.index, pd.RangeIndex)
    # sorted by (user, timestamp): u1 at 100, 200; u2 at 50 (i3), 150 (i1)
    assert events_of(ds) == [("u1", "i1", 5.0, 100), ("u1", "i2", 3.0, 200), ("u2", "i3", 2.0, 50),
                             ("u2", "i1", 4.0, 150)]
    assert list(ds.user_ids) == ["u1", "u2"] and list(ds.item_ids) == ["i1", "i2", "i3"]
    assert ds.has_ratings and ds.has_timestamps
    assert ds.report["format"] == "csv"


@pytest.mark.parametrize("delimiter", ["\t", ";", "|", "::", " "])
def test_other_delimiters_are_sniffed(delimiter):
    text = EVENTS_CSV.decode().replace(",", delimiter).encode()
    ds = load_dataset(text, name="events.txt")
    assert ds.report["format_details"]["delimiter"] == delimiter
    assert events_of(ds)[3] == ("u2", "i1", 4.0, 150)


def test_movielens_u_data_headerless_tab(tmp_path):
    data = b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t4\t881250950\n"
    ds = load_dataset(write(tmp_path, "u.data", data))
    assert ds.report["format"] == "tsv (no header)"
    assert ds.report["columns"] == {"user": "column_1", "item": "column_2", "rating": "column_3",
                                    "timestamp": "column_4"}
    assert list(ds.user_ids) == ["22", "186", "196"]  # natural (numeric) order, not "186" < "196" < "22"
    assert events_of(ds)[2:] == [("196", "242", 3.0, 881250949), ("196", "377", 4.0, 881250950)]


def test_movielens_ratings_dat_double_colon(tmp_path):
    data = b"1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n"
    ds = load_dataset(write(tmp_path, "ratings.dat", data))
    assert ds.report["format_details"] == {"format": "delimited", "container": None, "delimiter": "::",
                                           "has_header": False, "encoding": "utf-8"}
    assert events_of(ds)[0] == ("1", "1193", 5.0, 978300760)


def test_movielens_ratings_csv_header_names():
    data = b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,2.5,964982224\n"
    ds = load_dataset(data, name="ratings.csv")
    assert ds.report["columns"] == {"user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"}
    assert events_of(ds)[0] == ("1", "3", 4.5, 964981247)


def test_headerless_columns_are_guessed_from_content_when_position_does_not_fit():
    # Last.fm-1K style: user, ISO time, artist id, artist name, (empty), track name
    data = (b"user_000001\t2009-05-04T23:08:57Z\tf1b1cf71\tDeep Dish\t\tFamous\n"
            b"user_000002\t2009-05-04T13:54:10Z\ta7f7df4a\tUn Kasa\t\tComposition\n")
    ds = load_dataset(data, name="lastfm.tsv")
    assert ds.report["columns"] == {"user": "column_1", "item": "column_3", "timestamp": "column_2"}
    assert events_of(ds)[0] == ("user_000001", "f1b1cf71", 1.0, 1241478537)
    # user, item, timestamp, rating order; positions can be overridden by number or column_N
    ds = load_dataset(b"1,10,881250949,3\n2,11,881250950,4\n", name="uitr.csv")
    assert ds.report["columns"] == {"user": "column_1", "item": "column_2", "rating": "column_4",
                                    "timestamp": "column_3"}
    ds = load_dataset(data, name="lastfm.tsv", item_col="4")
    assert list(ds.item_ids) == ["Deep Dish", "Un Kasa"]


def test_space_separated_with_comment_lines():
    konect = b"% bip unweighted\n% 100000 943 1682\n1 1 5 874965758\n1 2 3 876893171\n2 1 4 878542960\n"
    ds = load_dataset(konect, name="out.movielens")
    assert ds.report["format"] == "space-separated text (no header)"
    assert events_of(ds) == [("1", "1", 5.0, 874965758), ("1", "2", 3.0, 876893171), ("2", "1", 4.0, 878542960)]
    assert "skipped 2 leading comment or blank lines" in ds.report["warnings"]
    aligned = load_dataset(b"  1    10   5\n  2    11   4\n 12     1   3  \n", name="aligned.txt")
    assert events_of(aligned)[2] == ("12", "1", 3.0, 2)


def test_headerless_three_columns_with_timestamps_takes_time_not_rating():
    data = b"1,10,978300760\n2,11,978300761\n2,10,978300762\n"
    ds = load_dataset(data, name="x.csv")
    assert not ds.has_ratings and ds.has_timestamps
    assert set(ds.events["rating"]) == {1.0}


def test_gzip_and_zip_are_unwrapped(tmp_path):
    plain = load_dataset(EVENTS_CSV, name="e.csv")
    gz = load_dataset(write(tmp_path, "e.csv.gz", gzip.compress(EVENTS_CSV)))
    zp = load_dataset(write(tmp_path, "e.zip", zipped({"data/e.csv": EVENTS_CSV, "README.md": b"# notes"})))
    assert gz.report["format"] == "csv in gzip" and zp.report["format"] == "csv in zip"
    assert gz.fingerprint() == plain.fingerprint() == zp.fingerprint()


def test_gzip_inside_zip_and_multi_member_gzip():
    ds = load_dataset(zipped({"e.csv.gz": gzip.compress(EVENTS_CSV)}), name="e.zip")
    assert ds.report["format_details"]["container"] == "zip+gzip"
    head, tail = EVENTS_CSV[:40], EVENTS_CSV[40:]
    ds2 = load_dataset(gzip.compress(head) + gzip.compress(tail), name="e.csv.gz")
    assert len(ds2.events) == 4


def test_parquet(tmp_path):
    frame = pd.DataFrame({"customer_id": [17850.0, 17850.0, 13047.0, None], "product_id": ["0042", "85123A", "0042", "x"],
                          "score": [1.0, 2.0, 3.0, 4.0],
                          "event_time": pd.to_datetime(["2011-01-01", "2011-01-02", "2011-01-03", "2011-01-04"])})
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    ds = load_dataset(path)
    assert ds.report["format"] == "parquet"
    assert list(ds.user_ids) == ["13047", "17850"]  # float ids lose ".0"
    assert list(ds.item_ids) == ["0042", "85123A"]  # "0042" keeps its zeros
    assert ds.report["dropped"]["missing_user"] == {"count": 1, "examples": [4]}
    assert events_of(ds)[0] == ("13047", "0042", 3.0, 1294012800)


def test_amazon_json_lines():
    lines = [{"reviewerID": "A2SUAM1J3GNN3B", "asin": "0000013714", "overall": 5.0, "unixReviewTime": 1252800000,
              "reviewText": "great", "helpful": [2, 3]},
             {"reviewerID": "A14VAT5EAX3D9S", "asin": "0000013714", "overall": 4.0, "unixReviewTime": 1362268800},
             {"reviewerID": "A2SUAM1J3GNN3B", "asin": "B00000JBLH", "overall": 3.0, "unixReviewTime": 1300000000}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    ds = load_dataset(data, name="reviews.jsonl")
    assert ds.report["format"] == "jsonl"
    assert ds.report["columns"]["user"] == "reviewerID" and ds.report["columns"]["timestamp"] == "unixReviewTime"
    assert ("A2SUAM1J3GNN3B", "0000013714", 5.0, 1252800000) in events_of(ds)


def test_json_lines_with_mixed_types_falls_back_and_json_array():
    data = b'{"user": 1, "item": "a"}\n{"user": "b", "item": 2}\n{"user": 1, "item": 2}\n'
    ds = load_dataset(data, name="mixed.jsonl")
    assert sorted(ds.user_ids) == ["1", "b"] and len(ds.events) == 3
    array = json.dumps([{"user": 1, "item": 5}, {"user": 2, "item": 6}]).encode()
    assert load_dataset(array, name="a.json").report["format"] == "json"


def test_encodings_bom_latin1_utf16():
    bom = load_dataset(b"\xef\xbb\xbf" + EVENTS_CSV, name="bom.csv")
    assert bom.report["columns"]["user"] == "user_id"
    latin = load_dataset("user,item\nJos\xe9,a\nAna,b\n".encode("latin-1"), name="l.csv")
    assert "José" in list(latin.user_ids)
    assert any("Latin-1" in w for w in latin.report["warnings"])
    utf16 = load_dataset("user\titem\nx\ta\ny\tb\n".encode("utf-16"), name="u16.txt")
    assert list(utf16.user_ids) == ["x", "y"]


def test_file_like_upload():
    upload = io.BytesIO(EVENTS_CSV)
    upload.name = "upload.csv"
    assert load_dataset(upload).name == "upload.csv"


# --------------------------------------------------------------------------------------------- columns


def test_column_names_are_case_and_underscore_insensitive():
    data = b"VisitorID,SKU,Weight,Event_Time\nv1,s1,2,2024-01-01T00:00:00Z\nv2,s2,1,2024-01-02 00:00:00\n"
    ds = load_dataset(data, name="shop.csv")
    assert ds.report["columns"] == {"user": "VisitorID", "item": "SKU", "rating": "Weight", "timestamp": "Event_Time"}
    assert list(ds.events["timestamp"]) == [1704067200, 1704153600]


def test_explicit_columns_override_detection():
    data = b"a,b,c,d\n1,x,5,10\n2,y,3,20\n1,y,1,30\n"
    ds = load_dataset(data, name="x.csv", user_col="b", item_col="a", rating_col="c", time_col="d")
    assert list(ds.user_ids) == ["x", "y"] and list(ds.item_ids) == ["1", "2"]
    assert ds.report["columns"] == {"user": "b", "item": "a", "rating": "c", "timestamp": "d"}


def test_header_with_unknown_names_and_numeric_data_is_still_a_header():
    data = b"who,what\nalice,1\nbob,2\n"
    with pytest.raises(DataError, match=r"no user column found \(columns seen: who, what\)"):
        load_dataset(data, name="x.csv")
    ds = load_dataset(data, name="x.csv", user_col="who", item_col="what")
    assert list(ds.user_ids) == ["alice", "bob"]


def test_sniff_columns_for_a_mapping_ui():
    found = sniff_columns(b"CustomerID,StockCode,Quantity,InvoiceDate,Country\n1,a,2,2010-12-01 08:26:00,UK\n",
                          name="retail.csv")
    assert found == {"columns": ["CustomerID", "StockCode", "Quantity", "InvoiceDate", "Country"],
                     "roles": {"user": "CustomerID", "item": "StockCode", "rating": "Quantity",
                               "timestamp": "InvoiceDate"}, "format": "csv", "error": None}
    headerless = sniff_columns(b"1\t2\t5\t881250949\n2\t3\t4\t881250950\n", name="u.data")
    assert headerless["columns"] == ["column_1", "column_2", "column_3", "column_4"]
    assert headerless["roles"]["timestamp"] == "column_4"
    assert sniff_columns(b"", name="empty.csv")["error"] == "empty.csv is empty; choose a file with a header and data rows."


# --------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(("values", "expected"), [
    (["978300760", "978300761"], [978300760, 978300761]),
    (["978300760000", "978300761000"], [978300760, 978300761]),
    (["978300760000000", "978300761000000"], [978300760, 978300761]),
    (["978300760000000000", "978300761000000000"], [978300760, 978300761]),
    (["978300760.5", "978300761.9"], [978300760, 978300761]),
    (["2000-12-31 22:12:40", "2000-12-31 22:12:41"], [978300760, 978300761]),
    (["2000-12-31T23:12:40+01:00", "2000-12-31T23:12:41+01:00"], [978300760, 978300761]),
    (["31-Dec-2000", "01-Jan-2001"], [978220800, 978307200]),
    (["20001231", "20010101"], [978220800, 978307200]),
    (["12/31/2000 22:12:40", "12/31/2000 22:12:41"], [978300760, 978300761]),
])
def test_timestamp_units_and_strings(values, expected):
    data = ("user,item,timestamp\n" + "".join(f"u,i{k},{v}\n" for k, v in enumerate(values)) + "w,i0,"
            + values[0] + "\n").encode()
    ds = load_dataset(data, name="t.csv")
    assert list(ds.events["timestamp"][:2]) == expected


def test_drops_are_counted_per_reason_with_row_examples():
    data = (b"user,item,rating\n"
            b"a,x,5\n"      # 1 kept
            b",x,5\n"       # 2 missing_user
            b"b,,4\n"       # 3 missing_item
            b"b,y,nan\n"    # 4 nan_rating
            b"b,y,inf\n"    # 5 infinite_rating
            b"b,y,-1\n"     # 6 negative_rating
            b"b,y,\n"       # 7 missing_rating
            b"b,y,0\n"      # 8 kept (0 is a valid explicit rating)
            b"c,x,1,extra\n"  # 9 malformed_row
            b"c,z,2\n")     # 10 kept
    ds = load_dataset(data, name="dirty.csv")
    dropped = ds.report["dropped"]
    assert dropped == {"malformed_row": {"count": 1, "examples": [9]},
                       "missing_user": {"count": 1, "examples": [2]},
                       "missing_item": {"count": 1, "examples": [3]},
                       "missing_rating": {"count": 1, "examples": [7]},
                       "nan_rating": {"count": 1, "examples": [4]},
                       "infinite_rating": {"count": 1, "examples": [5]},
                       "negative_rating": {"count": 1, "examples": [6]}}
    assert ds.report["rows_read"] == 10 and ds.report["rows_kept"] == 3
    assert not ds.has_timestamps
    # without a time column the file row order (0-based data row) is the timestamp
    assert events_of(ds) == [("a", "x", 5.0, 0), ("b", "y", 0.0, 7), ("c", "z", 2.0, 9)]
    assert any("negative rating" in w for w in ds.report["warnings"])


def test_online_retail_style_file_cancellations_quantities_and_descriptions():
    data = (b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
            b"536365,85123A,WHITE HEART ,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
            b"536366,85123A,WHITE HEART,6,2010-12-01 08:28:00,2.55,17850.0,United Kingdom\n"
            b"536367,85123A,white heart holder,6,2010-12-01 08:30:00,2.55,13047,United Kingdom\n"
            b"C536368,85123A,WHITE HEART,-1,2010-12-01 09:00:00,2.55,17850,United Kingdom\n"
            b"536369,71053,\"LANTERN, METAL\",0,2010-12-01 09:00:00,3.39,13047,United Kingdom\n"
            b"536370,71053,\"LANTERN, METAL\",2,2010-12-01 09:10:00,3.39,13047,United Kingdom\n"
            b"536371,71053,LANTERN,2,2010-12-01 09:10:00,3.39,,United Kingdom\n")
    ds = load_dataset(data, name="retail.csv")
    assert ds.report["dropped"] == {"missing_user": {"count": 1, "examples": [7]},
                                    "cancelled": {"count": 1, "examples": [4]},
                                    "non_positive_quantity": {"count": 1, "examples": [5]}}
    assert ds.report["rating_kind"] == "quantity"
    assert list(ds.user_ids) == ["13047", "17850"]
    assert list(ds.item_ids) == ["71053", "85123A"]
    # most frequent description per StockCode (trailing spaces stripped): 2x "WHITE HEART" vs 1x lower-case
    assert list(ds.items["title"]) == ["LANTERN, METAL", "WHITE HEART"]
    assert list(ds.items["text"]) == ["LANTERN, METAL", "WHITE HEART"]
    assert ds.report["n_items_with_text"] == 2


def test_duplicates_kept_and_counted_and_stable_ties():
    data = b"user,item,timestamp\nu,b,5\nu,a,5\nu,b,5\nu,c,1\nv,a,1\n"
    ds = load_dataset(data, name="d.csv")
    assert ds.report["n_duplicate_events"] == 1
    # ties in timestamp keep the file order: b (row 1), a (row 2), b (row 3)
    assert [ds.item_ids[i] for i in ds.events["item"][:4]] == ["c", "b", "a", "b"]
    assert ds.report["density"] == pytest.approx(4 / (2 * 3))


def test_natural_order_of_ids():
    data = b"user,item\n10,b\n9,a\nx,a\n0042,b\n"
    ds = load_dataset(data, name="n.csv")
    # numeric-looking ids by value (9 < 10 < 42, "0042" keeps its zeros), then the others as text
    assert list(ds.user_ids) == ["9", "10", "0042", "x"]
    assert ds.user_index("0042") == 2 and ds.user_index(9) == 0


def test_report_is_json_serialisable_with_all_keys():
    ds = load_dataset(EVENTS_CSV, name="e.csv")
    report = json.loads(json.dumps(ds.report))
    assert set(report) == REPORT_KEYS
    assert report["n_users"] == 2 and report["n_items"] == 2 + 1 and report["n_interactions"] == 4
    assert report["min_events_per_user"] == 2 and report["median_events_per_user"] == 2.0
    assert report["first_event"] == "1970-01-01T00:00:50Z" and report["last_event"] == "1970-01-01T00:03:20Z"
    assert report["time_span_days"] == pytest.approx(150 / 86400, abs=1e-3)
    assert report["share_users_under_3_events"] == 1.0


def test_dataset_lookups_and_fingerprint():
    ds = load_dataset(EVENTS_CSV, name="e.csv")
    assert ds.user_index("u2") == 1 and ds.item_index("i3") == 2
    with pytest.raises(KeyError, match="item id 'nope' is not in data set"):
        ds.item_index("nope")
    again = load_dataset(EVENTS_CSV, name="e.csv")
    changed = load_dataset(EVENTS_CSV.replace(b"u2,i3,2", b"u2,i3,1"), name="e.csv")
    assert ds.fingerprint() == again.fingerprint() != changed.fingerprint()
    assert len(ds.fingerprint()) == 64


def test_constants():
    assert DEFAULT_MAX_BYTES == 512 * 1024 * 1024
    assert "JSON Lines" in SUPPORTED_FORMATS_HELP and "CustomerID" in SUPPORTED_FORMATS_HELP


# --------------------------------------------------------------------------------------------- metadata

U_ITEM = ("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
          "2|GoldenEye (1995)|01-Jan-1995||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
          "3|Caf\xe9 (1996)|01-Jan-1996||http://z|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n").encode("latin-1")


def test_u_item_genre_flags_and_cold_items(tmp_path):
    events = b"1\t1\t5\t881250949\n2\t2\t3\t881250950\n2\t1\t3\t881250951\n"
    ds = load_dataset(write(tmp_path, "u.data", events), items=write(tmp_path, "u.item", U_ITEM))
    assert list(ds.item_ids) == ["1", "2", "3"]  # item 3 has no events: cold item after the others
    assert list(ds.items["n_events"]) == [2, 1, 0]
    assert ds.items["categories"][0] == ["Animation", "Children's", "Comedy"]
    assert ds.items["categories"][1] == ["Action", "Adventure", "Thriller"]
    assert ds.items["title"][2] == "Café (1996)" and ds.items["categories"][2] == ["unknown"]
    assert ds.items["text"][0] == "Toy Story (1995). Animation, Children's, Comedy"
    assert ds.report["n_items"] == 2 and ds.report["n_catalog_items"] == 3 and ds.n_items == 3
    assert len(MOVIELENS_GENRES) == 19


def test_movies_dat_and_movies_csv():
    dat = b"1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n"
    frame, report = load_item_metadata(dat, name="movies.dat")
    assert list(frame["title"]) == ["Toy Story (1995)", "Jumanji (1995)"]
    assert frame["categories"][0] == ["Animation", "Children's", "Comedy"]
    csv_data = (b'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n'
                b'2,"American President, The (1995)",(no genres listed)\n')
    frame, report = load_item_metadata(csv_data, name="movies.csv")
    assert frame["title"][1] == "American President, The (1995)" and frame["categories"][1] == []


def test_generic_metadata_json_lists_duplicates_and_missing_titles():
    meta = (b"asin,name,overview,tags\n"
            b'a1,First,"Long text, with comma","[""x"", ""y""]"\n'
            b"a2,,,z;w\n"
            b"a1,Duplicate,ignored,q\n"
            b",orphan,,\n")
    events = b"user,asin\nu,a1\nv,a2\nv,a1\n"
    ds = load_dataset(events, items=meta, name="e.csv")
    items = ds.items.set_index("item_id")
    assert items.loc["a1", "title"] == "First" and items.loc["a1", "text"] == "Long text, with comma"
    assert items.loc["a1", "categories"] == ["x", "y"]
    assert items.loc["a2", "title"] == "" and items.loc["a2", "text"] == "z, w"
    assert not ds.items["title"].isna().any()
    assert ds.report["metadata"]["n_duplicate_ids"] == 1 and ds.report["metadata"]["n_missing_ids"] == 1
    assert any("duplicated item ids" in w for w in ds.report["warnings"])


def test_build_dataset_from_frames():
    interactions = pd.DataFrame({"user_id": ["b", "a", "a"], "item_id": [2, 1, 3], "rating": [1.0, 2.0, 3.0],
                                 "timestamp": [30, 20, 10]})
    items = pd.DataFrame({"item_id": [1, 2, 3, 4], "title": ["one", "two", None, "four"],
                          "description": ["", "second", "", ""], "categories": ["A|B", "", "C", "D"]})
    ds = build_dataset(interactions, items, name="demo", report={"source": "generated"})
    assert events_of(ds) == [("a", "3", 3.0, 10), ("a", "1", 2.0, 20), ("b", "2", 1.0, 30)]
    assert list(ds.item_ids) == ["1", "2", "3", "4"] and list(ds.items["n_events"]) == [1, 1, 1, 0]
    assert list(ds.items["text"]) == ["one. A, B", "second", "C", "four. D"]
    assert ds.report["source"] == "generated" and ds.report["format"] == "dataframe"


# --------------------------------------------------------------------------------------------- errors

MALFORMED = [
    ("empty", b"", {}, r"empty\.csv is empty"),
    ("whitespace only", b"  \n\n ", {}, r"is empty"),
    ("header only", b"user,item,rating\n", {}, r"has a header but no data rows"),
    ("binary", b"\x00\x01\x02\x03binary\x00" * 20, {}, r"looks like a binary file"),
    ("png-like", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, {}, r"binary file"),
    ("no user column", b"foo,item\n1,2\n", {}, r"no user column found \(columns seen: foo, item\); name it one of user"),
    ("no item column", b"user,bar\n1,2\n", {}, r"no item column found \(columns seen: user, bar\)"),
    ("single column", b"user\nu1\nu2\n", {}, r"no item column found"),
    ("override missing", EVENTS_CSV, {"user_col": "uid"}, r"column 'uid' given as user_col is not in the file"),
    ("same column twice", EVENTS_CSV, {"user_col": "item_id", "item_col": "item_id"}, r"column 'item_id' was chosen for users and items"),
    ("all users missing", b"user,item\n,a\n,b\n", {}, r"no usable rows left after cleaning \(2 read; dropped: missing_user 2\)"),
    ("all ratings negative", b"user,item,rating\na,x,-1\nb,y,-2\n", {}, r"dropped: negative_rating 2"),
    ("one user", b"user,item\na,x\na,y\n", {}, r"only one user \('a'\)"),
    ("one item", b"user,item\na,x\nb,x\n", {}, r"only one item \('x'\)"),
    ("rating text", b"user,item,rating\na,x,5\nb,y,good\n", {}, r"rating column 'rating' is not numeric: row 2 has 'good'"),
    ("bad timestamp", b"user,item,time\na,x,2020-01-01\nb,y,yesterday\n", {}, r"cannot read the timestamp in column 'time' at row 2: 'yesterday'"),
    ("timestamp out of range", b"user,item,timestamp\na,x,1\nb,y,1e30\n", {}, r"timestamp in column 'timestamp' at row 2 is 1e\+30, outside 1900-2100"),
    ("bad json line", b'{"user": 1, "item": 2}\n{"user": 3, "item":\n', {}, r"line 2 is not valid JSON \(Expecting value at column 20\)"),
    ("json not object", b'{"user": 1, "item": 2}\n[1, 2]\n', {}, r"line 2 is not a JSON object"),
    ("json scalar doc", b"[1, 2, 3]", {}, r"element 1 is not a JSON object \(got int\)"),
    ("broken parquet", b"PAR1" + b"garbage" * 10, {}, r"could not be read as Parquet"),
    ("truncated gzip", gzip.compress(EVENTS_CSV * 50)[:60], {}, r"truncated gzip file"),
    ("damaged gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 40, {}, r"damaged gzip file"),
    ("damaged zip", b"PK\x03\x04" + b"\x00" * 40, {}, r"damaged zip archive"),
    ("zip many files", zipped({"a.csv": EVENTS_CSV, "b.csv": EVENTS_CSV}), {}, r"holds 2 files \(a\.csv, b\.csv\); zip exactly one data file"),
    ("empty zip", zipped({}), {}, r"empty zip archive"),
    ("excel", zipped({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}), {}, r"Excel workbook; save the sheet as CSV"),
    ("too big", EVENTS_CSV, {"max_bytes": 20}, r"is 80 bytes, over the 20 bytes limit \(max_bytes\); pass a larger max_bytes=<bytes>"),
    ("decompression bomb", gzip.compress(b"user,item\n" + b"a,b\n" * 100_000), {"max_bytes": 50_000}, r"expands to more than .* decompression bomb"),
    ("zip bomb", zipped({"big.csv": b"user,item\n" + b"a,b\n" * 100_000}), {"max_bytes": 50_000}, r"decompression bomb"),
    ("rows all malformed", b"user,item,rating\n1,2\n3,4,5,6\n", {}, r"none of its 2 rows has the same number of fields"),
    ("nested id", b'{"user": {"a": 1}, "item": 2}\n{"user": {"a": 2}, "item": 3}\n', {}, r"nested values|could not be read"),
]


@pytest.mark.parametrize(("data", "kwargs", "message"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_inputs_raise_specific_data_errors(data, kwargs, message):
    with pytest.raises(DataError, match=message) as caught:
        load_dataset(data, name="empty.csv" if not data else "bad.csv", **kwargs)
    assert "\n" not in str(caught.value)


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(tmp_path)


# --------------------------------------------------------------------------------------------- shared data


def test_movielens_100k():
    folder = SHARED_DATA / "ml-100k"
    if not (folder / "u.data").exists():
        pytest.skip(f"MovieLens-100K not found at {folder} (the repo must sit next to shared/data)")
    ds = load_dataset(folder / "u.data", items=folder / "u.item")
    assert (ds.n_users, ds.n_items, len(ds.events)) == (943, 1682, 100_000)
    assert ds.report["n_items_with_text"] == 1682
    assert (ds.items["title"] != "").all()
    assert all(isinstance(c, list) and c for c in ds.items["categories"])
    toy = ds.item_index("1")
    assert ds.items["title"][toy] == "Toy Story (1995)"
    assert ds.items["categories"][toy] == ["Animation", "Children's", "Comedy"]
    assert ds.items["n_events"].sum() == 100_000


def test_online_retail():
    path = SHARED_DATA / "online-retail" / "online_retail.csv.gz"
    if not path.exists():
        pytest.skip(f"Online Retail not found at {path} (the repo must sit next to shared/data)")
    ds = load_dataset(path)
    # independent expectation with pandas
    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str, "Description": str},
                      keep_default_na=False)
    no_customer = raw["CustomerID"].str.strip() == ""
    cancelled = raw["InvoiceNo"].str.startswith("C") & ~no_customer
    non_positive = (raw["Quantity"] <= 0) & ~no_customer & ~cancelled
    kept = raw[~no_customer & ~cancelled & ~non_positive]
    assert ds.report["rows_read"] == len(raw) == 541_909
    assert ds.report["dropped"]["missing_user"]["count"] == int(no_customer.sum()) == 135_080
    assert ds.report["dropped"]["cancelled"]["count"] == int(cancelled.sum())
    assert ds.report["dropped"].get("non_positive_quantity", {"count": 0})["count"] == int(non_positive.sum())
    assert ds.report["rows_kept"] == len(ds.events) == len(kept) == 397_924
    assert ds.n_users == kept["CustomerID"].nunique() == 4339
    assert ds.report["n_items"] == kept["StockCode"].nunique()
    descriptions = kept.assign(Description=kept["Description"].str.strip())
    descriptions = descriptions[descriptions["Description"] != ""]
    mode = descriptions.groupby("StockCode")["Description"].agg(lambda s: s.value_counts().index[0])
    for code in ["85123A", "71053", "22423", "POST"]:
        assert ds.items["text"][ds.item_index(code)] == mode[code]
    assert ds.report["n_items_with_text"] == (ds.items["text"] != "").sum() >= 3600
    assert ds.report["first_event"] == "2010-12-01T08:26:00Z"


def test_semicolon_comma_decimals_and_repeated_headers():
    data = (b"user;item;rating;time\nu1;i1;4,5;100\nu2;i2;3,5;200\n"
            b"user;item;rating;time\nu1;i2;1;300\n;x;bad;bad\n")
    ds = load_dataset(data, name="concatenated.csv")
    assert ds.report["format"] == "';'-separated text"
    assert events_of(ds) == [("u1", "i1", 4.5, 100), ("u1", "i2", 1.0, 300), ("u2", "i2", 3.5, 200)]
    # the repeated header (data row 3) is dropped; data row 5 lacks a user, so its unreadable rating/time are not fatal
    assert ds.report["dropped"] == {"repeated_header": {"count": 1, "examples": [3]},
                                    "missing_user": {"count": 1, "examples": [5]}}


def test_quoted_values_spanning_lines_are_kept():
    data = b'user,item,description\n1,A,"two\nlines"\n2,B,plain\n2,A,"x, y"\n'
    ds = load_dataset(data, name="multiline.csv")
    assert ds.report["dropped"] == {} and len(ds.events) == 3
    assert list(ds.items["title"]) == ["two\nlines", "plain"]
