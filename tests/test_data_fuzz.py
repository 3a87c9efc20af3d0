"""Property tests: whatever bytes arrive, every loader ends in a valid Dataset or a DataError with a message.

Inputs are random bytes, truncated files of every format, and CSVs mutated with the usual damage (lost or
extra delimiters, stray quotes, NUL bytes, huge fields, mixed encodings, nonsense timestamps, negative /
NaN / inf ratings, million-character titles). Derandomized, so CI runs the same 1,400 examples every time.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data import DataError, Dataset, load_dataset, load_item_metadata

FUZZ = settings(max_examples=300, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BASE_CSV = ("user_id,item_id,rating,timestamp\n"
            + "".join(f"u{u},i{(u * 7 + k) % 11},{(u + k) % 5 + 1},{978300760 + 97 * u + k}\n"
                      for u in range(6) for k in range(4)))
BASE_META = "item_id,title,description,genres\n" + "".join(f"i{i},Title {i},About {i},A|B\n" for i in range(11))


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _parquet(text: str) -> bytes:
    buffer = io.BytesIO()
    pd.read_csv(io.StringIO(text), dtype=str).to_parquet(buffer)
    return buffer.getvalue()


def _jsonl(text: str) -> bytes:
    frame = pd.read_csv(io.StringIO(text), dtype=str)
    return "\n".join(json.dumps(row) for row in frame.to_dict("records")).encode()


VALID_FILES = [
    BASE_CSV.encode(),
    BASE_CSV.replace(",", "\t").encode(),
    BASE_CSV.split("\n", 1)[1].replace(",", "::").encode(),
    BASE_CSV.replace(",", ";").encode(),
    gzip.compress(BASE_CSV.encode()),
    _zip("events.csv", BASE_CSV.encode()),
    _parquet(BASE_CSV),
    _jsonl(BASE_CSV),
]


def check_outcome(load, data: bytes, **kwargs) -> None:
    """The property: a clean Dataset (or metadata frame) or a one-line DataError, never anything else."""
    try:
        result = load(data, name="fuzz.csv", **kwargs)
    except DataError as error:
        message = str(error)
        assert message.strip() and "\n" not in message
        return
    if isinstance(result, Dataset):
        events = result.events
        assert [str(t) for t in events.dtypes] == ["int32", "int32", "float32", "int64"]
        assert len(events) > 0 and result.n_users >= 2 and result.report["n_items"] >= 2
        assert events["user"].between(0, result.n_users - 1).all()
        assert events["item"].between(0, result.n_items - 1).all()
        assert np.isfinite(events["rating"]).all() and (events["rating"] >= 0).all()
        assert len(result.items) == result.n_items and not result.items["title"].isna().any()
        assert all(isinstance(c, list) for c in result.items["categories"])
        json.dumps(result.report)
    else:
        frame, report = result
        assert not frame["title"].isna().any()
        json.dumps(report)


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """Load once before the timed examples so imports and thread pools do not count against the deadline."""
    load_dataset(VALID_FILES[0], name="warmup.csv")


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data):
    check_outcome(load_dataset, data)
    check_outcome(load_item_metadata, data)


@FUZZ
@given(st.sampled_from(VALID_FILES), st.floats(0, 1))
def test_truncated_files(data, fraction):
    check_outcome(load_dataset, data[: int(len(data) * fraction)])


MUTATIONS = ["drop_delimiter", "extra_delimiter", "stray_quote", "nul", "huge_field", "latin1", "bad_time",
             "bad_rating", "newline", "swap_bytes", "empty_cell", "bom"]


def mutate(text: str, draw) -> bytes:
    data = text.encode()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(MUTATIONS))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "drop_delimiter":
            position = data.find(b",", at)
            data = data[:position] + data[position + 1:] if position >= 0 else data
        elif kind == "extra_delimiter":
            data = data[:at] + b"," + data[at:]
        elif kind == "stray_quote":
            data = data[:at] + b'"' + data[at:]
        elif kind == "nul":
            data = data[:at] + b"\x00" + data[at:]
        elif kind == "huge_field":
            data = data[:at] + b"x" * draw(st.sampled_from([10_000, 2_000_000])) + data[at:]
        elif kind == "latin1":
            data = data[:at] + "é".encode("latin-1") + data[at:]
        elif kind == "bad_time":
            value = draw(st.sampled_from([b"-1e300", b"nonsense", b"99999999999999999999999", b"2021-13-45", b"NaT"]))
            data = data.replace(b"978300", value, 1) if draw(st.booleans()) else data[:at] + value + data[at:]
        elif kind == "bad_rating":
            value = draw(st.sampled_from([b"-3", b"nan", b"inf", b"-inf", b"1e400", b"five"]))
            data = data.replace(b",3,", b"," + value + b",", 1)
        elif kind == "newline":
            data = data[:at] + b"\n" + data[at:]
        elif kind == "swap_bytes":
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
        elif kind == "empty_cell":
            data = data.replace(b",i3,", b",,", 1)
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
    return data


@FUZZ
@given(st.data())
def test_mutated_csv_interactions(data):
    check_outcome(load_dataset, mutate(BASE_CSV, data.draw))


@FUZZ
@given(st.data())
def test_mutated_metadata(data):
    meta = mutate(BASE_META, data.draw)
    if data.draw(st.booleans()):
        meta = meta.replace(b"Title 3", b"T" * 1_000_000, 1)
    check_outcome(load_item_metadata, meta)
    try:
        result = load_dataset(BASE_CSV.encode(), items=meta, name="events.csv")
    except DataError as error:
        assert str(error).strip()
    else:
        assert len(result.items) >= 11 and not result.items["text"].isna().any()


@settings(max_examples=200, deadline=2000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_mutated_files_inside_containers(data):
    inner = mutate(BASE_CSV, data.draw)
    wrapped = data.draw(st.sampled_from([gzip.compress, lambda b: _zip("x.tsv", b)]))(inner)
    check_outcome(load_dataset, wrapped, max_bytes=data.draw(st.sampled_from([10**8, 2000])))
