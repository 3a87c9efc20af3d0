"""Issue #6, point 1: upload size limits and decompression bombs.

`load_dataset` refuses a file larger than `max_bytes` (default `DEFAULT_MAX_BYTES`, 512 MiB) before
reading it, and refuses gzip/zip content that expands past the same limit while decompressing it, so
neither a huge file nor a bomb can exhaust memory or freeze the app. There is no row cap: the byte
limit bounds the work. Bombs are generated here with streaming writes (never held decompressed).
Memory is measured with tracemalloc (deterministic; no timing).
"""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zipfile
import zlib

import pytest

from recsys.data import DEFAULT_MAX_BYTES, DataError, load_dataset

MIB = 1024 * 1024
CSV = b"user_id,item_id,rating\n" + b"".join(f"u{i % 7},i{i % 11},4\n".encode() for i in range(200))


def _zeros_gzip(n_mib: int, *, level: int = 9) -> bytes:
    """A single-member gzip of `n_mib` MiB of zero bytes, compressed 1 MiB at a time."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    chunk = bytes(MIB)
    parts = [comp.compress(chunk) for _ in range(n_mib)]
    parts.append(comp.flush())
    return b"".join(parts)


def _zeros_zip(n_mib: int, member: str = "ratings.csv") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open(member, "w", force_zip64=True) as handle:
            chunk = bytes(MIB)
            for _ in range(n_mib):
                handle.write(chunk)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    data = _zeros_gzip(200)
    assert len(data) < 1 * MIB  # ~200 KB that expands to 200 MiB
    return data


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    data = _zeros_zip(200)
    assert len(data) < 1 * MIB
    return data


def _peak_mib(fn) -> float:
    """Peak Python-tracked allocation (MiB) while `fn()` runs; bytes/bytearray buffers are tracked."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / MIB


def _data_error(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message  # one line for the UI / CLI
    return message


# --------------------------------------------------------------------------------------------- size limit


def test_explicit_max_bytes_refuses_a_larger_upload_with_a_clear_message():
    message = _data_error(lambda: load_dataset(CSV, name="ratings.csv", max_bytes=1000))
    assert "ratings.csv" in message and "1,641 bytes" in message and "1,000 bytes" in message
    assert "max_bytes" in message and "sample" in message  # what to do about it


def test_a_file_of_exactly_max_bytes_is_accepted():
    ds = load_dataset(CSV, name="ratings.csv", max_bytes=len(CSV))
    assert ds.report["n_interactions"] == 200


def test_explicit_max_bytes_applies_to_files_on_disk(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes(CSV)
    message = _data_error(lambda: load_dataset(path, max_bytes=1000))
    assert "ratings.csv" in message and "max_bytes" in message


def test_explicit_max_bytes_applies_to_the_item_metadata_file_too(tmp_path):
    items = tmp_path / "meta.csv"
    items.write_bytes(b"item_id,title\n" + b"".join(f"i{i},Title {i}\n".encode() for i in range(200)))
    message = _data_error(lambda: load_dataset(CSV, items, name="ratings.csv", max_bytes=len(CSV)))
    assert message.startswith("meta.csv ") and "max_bytes" in message  # names the file that is too big


def test_default_limit_is_512_mib_and_a_larger_file_is_refused_without_reading_it(tmp_path):
    assert DEFAULT_MAX_BYTES == 512 * MIB
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:  # sparse: takes no disk space, but stat() says 512 MiB + 1 byte
        handle.write(CSV[:64])
        handle.truncate(DEFAULT_MAX_BYTES + 1)
    errors = []

    def load():
        try:
            load_dataset(huge)
        except DataError as e:
            errors.append(str(e))

    peak = _peak_mib(load)
    assert errors, "a file over the default limit must raise DataError"
    assert "huge.csv" in errors[0] and "512.0 MiB" in errors[0] and "max_bytes" in errors[0]
    assert peak < 16, f"the over-size file was read into memory ({peak:.0f} MiB) instead of refused up front"


def test_an_endless_upload_stream_is_read_only_up_to_the_limit():
    class Endless:
        """A file-like upload (only `read`) that never ends, e.g. a misbehaving stream."""

        def __init__(self):
            self.served = 0

        def read(self, n=-1):
            if n is None or n < 0:
                raise AssertionError("the loader must never read an upload without a size bound")
            self.served += n
            return b"1," * (n // 2) + b"1" * (n % 2)

    stream = Endless()
    message = _data_error(lambda: load_dataset(stream, name="stream.csv", max_bytes=2 * MIB))
    assert "stream.csv" in message and "max_bytes" in message
    assert stream.served <= 2 * MIB + 1


# ------------------------------------------------------------------------------------ decompression bombs


def test_gzip_bomb_is_refused_with_bounded_memory(gzip_bomb):
    limit = 8 * MIB
    errors = []

    def load():
        try:
            load_dataset(gzip_bomb, name="ratings.csv.gz", max_bytes=limit)
        except DataError as e:
            errors.append(str(e))

    peak = _peak_mib(load)
    assert errors, "a gzip expanding 1000x past max_bytes must raise DataError"
    assert "ratings.csv.gz" in errors[0] and "decompression bomb" in errors[0] and "max_bytes" in errors[0]
    # decompression stops at the limit: nowhere near the 200 MiB the file expands to
    assert peak < 4 * limit / MIB, f"peak {peak:.0f} MiB while refusing a bomb with an {limit // MIB} MiB limit"


def test_gzip_bomb_on_disk_is_refused(tmp_path, gzip_bomb):
    path = tmp_path / "events.tsv.gz"
    path.write_bytes(gzip_bomb)
    message = _data_error(lambda: load_dataset(path, max_bytes=8 * MIB))
    assert "events.tsv.gz" in message and "decompression bomb" in message


def test_zip_bomb_is_refused_with_bounded_memory(zip_bomb):
    limit = 8 * MIB
    errors = []

    def load():
        try:
            load_dataset(zip_bomb, name="ratings.zip", max_bytes=limit)
        except DataError as e:
            errors.append(str(e))

    peak = _peak_mib(load)
    assert errors, "a zip member expanding 1000x past max_bytes must raise DataError"
    assert "ratings.zip" in errors[0] and "decompression bomb" in errors[0]
    assert peak < 4 * limit / MIB, f"peak {peak:.0f} MiB while refusing a bomb with an {limit // MIB} MiB limit"


def test_gzip_bomb_nested_in_a_zip_is_refused(gzip_bomb):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("ratings.csv.gz", gzip_bomb)
    errors = []

    def load():
        try:
            load_dataset(buffer.getvalue(), name="nested.zip", max_bytes=8 * MIB)
        except DataError as e:
            errors.append(str(e))

    peak = _peak_mib(load)
    assert errors and "decompression bomb" in errors[0]
    assert peak < 32


def test_default_limit_also_stops_a_bomb():
    # 9 gzip members of 64 MiB zeros each: 576 MiB once decompressed, over the 512 MiB default
    member = _zeros_gzip(64)
    bomb = member * 9
    assert len(bomb) < 1 * MIB
    message = _data_error(lambda: load_dataset(bomb, name="big.csv.gz"))
    assert "big.csv.gz" in message and "512.0 MiB" in message and "decompression bomb" in message


def test_a_genuine_compressed_file_under_the_limit_still_loads():
    # the limit applies to the decompressed content: exactly max_bytes passes, one byte less does not
    ds = load_dataset(gzip.compress(CSV), name="ratings.csv.gz", max_bytes=len(CSV))
    assert ds.report["n_interactions"] == 200
    message = _data_error(lambda: load_dataset(gzip.compress(CSV), name="ratings.csv.gz", max_bytes=len(CSV) - 1))
    assert "expands to more than 1,640 bytes" in message
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ratings.csv", CSV)
    ds = load_dataset(buffer.getvalue(), name="ratings.zip", max_bytes=len(CSV))
    assert ds.report["n_interactions"] == 200
