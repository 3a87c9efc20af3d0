"""The loader's one error type and the file names its messages use.

Every failure of a data file becomes a `DataError` whose message names the file, the place and what
to do, so no pyarrow/zlib/zipfile/pandas exception reaches the app or the CLI.
"""

from __future__ import annotations

import contextlib
from pathlib import Path


class DataError(ValueError):
    """A data file cannot be used; `str(e)` is one line naming the file, the place and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def display_name(source, name: str | None) -> str:
    """The file name used in messages: `name` if given, else the path's name, else ``"upload"``."""
    if name:
        label = str(name)
    elif isinstance(source, (str, Path)):
        label = Path(source).name or str(source)
    else:
        label = str(getattr(source, "name", None) or "upload")
    return label if len(label) <= 120 else label[:117] + "..."


def load_failure(label: str, exc: Exception) -> DataError:
    """The error for a file that failed in an unforeseen way: the loader promises `DataError` for every bad file."""
    return _unreadable(label, exc, "check that it is a CSV/TSV/JSON Lines/Parquet file with user and item columns")


def stream_failure(label: str, exc: Exception) -> DataError:
    """`load_failure` for a file streamed from a path (`ingest_to_shards`), which must be plain or gzip."""
    return _unreadable(label, exc, "check the path and that it is a CSV/TSV/JSON Lines/Parquet file (plain or .gz)")


def _unreadable(label: str, exc: Exception, fix: str) -> DataError:
    message = " ".join(str(exc).split())[:160] or type(exc).__name__
    return DataError(f"{label} could not be read ({type(exc).__name__}: {message}); {fix}.")


@contextlib.contextmanager
def only_data_errors(label: str, *, failure=load_failure, out_of_memory: str | None = None):
    """Inside, any exception but a `DataError` becomes one, as the loader promises for every bad file.

    A MemoryError gets the message `out_of_memory` (where given); anything else `failure(label, exc)`.
    """
    try:
        yield
    except DataError:
        raise
    except MemoryError as exc:
        raise (DataError(out_of_memory) if out_of_memory else failure(label, exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the loader promises DataError for every bad file
        raise failure(label, exc) from exc
