"""Tests for recsys.data.formats: container unwrapping, encoding, delimiter/header sniffing, row numbering."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pytest

from recsys.data import DataError
from recsys.data.formats import sniff_delimiter, sniff_layout, to_utf8, unwrap
from recsys.data.parsers import RawTable


@pytest.mark.parametrize(("sample", "expected"), [
    ("1\t2\t3\n4\t5\t6\n", "\t"),
    ("1,2,3\n4,5,6\n", ","),
    ("1::2::3\n4::5::6\n", "::"),
    ("1|Toy Story, The|0|1\n2|Heat|1|0\n", "|"),
    ("u;i;4,5;1\nv;j;3,5;2\n", ";"),
    ('1,"Heat; Ice",3\n2,"A; B",4\n', ","),
    ("a\tb, c\n1\tx, y\n", "\t"),
])
def test_sniff_delimiter(sample, expected):
    assert sniff_delimiter(sample) == expected


def test_sniff_layout_header_rules():
    known = {"user", "item"}
    assert sniff_layout(b"1,2,3\n4,5,6\n", name="x", known_names=known).header is None
    assert sniff_layout(b"User,Item\n1,2\n", name="x", known_names=known).header == ["User", "Item"]
    # unknown names, but column 2 is numeric below the first row -> header
    assert sniff_layout(b"who,n\na,1\nb,2\n", name="x", known_names=known).header == ["who", "n"]
    # text ids in every row with a numeric column that is numeric in the first row too -> data
    assert sniff_layout(b"a,x,5\nb,y,4\n", name="x", known_names=known).header is None
    # duplicated and empty header names are made unique
    assert sniff_layout(b"user,user,\n1,2,3\n", name="x", known_names=known).header == ["user", "user.1", "column_3"]


def test_unwrap_and_encoding():
    content, containers, inner = unwrap(gzip.compress(b"a,b\n"), name="f.csv.gz", limit=100)
    assert (content, containers, inner) == (b"a,b\n", ["gzip"], "f.csv")
    assert to_utf8("é".encode("latin-1"), name="x") == ("é".encode(), "latin-1")
    assert to_utf8(b"\xef\xbb\xbfa", name="x") == (b"a", "utf-8-sig")
    with pytest.raises(DataError, match="binary"):
        to_utf8(b"a\x00b", name="x")


def test_data_rows_skip_malformed_rows():
    raw = RawTable(table=pa.table({"a": [1, 2, 3]}), info={}, skipped_rows=[2, 4])
    # positions 0, 1, 2 are data rows 1, 3, 5 because rows 2 and 4 were skipped
    assert list(raw.data_rows(np.arange(3))) == [1, 3, 5]


def test_space_is_a_last_resort_delimiter():
    assert sniff_delimiter("1 2 5\n3 4 1\n") == " "
    # commas split every line consistently, so the spaces inside titles do not matter
    assert sniff_delimiter("1,Toy Story (1995),3\n2,Heat (1995),4\n") == ","
