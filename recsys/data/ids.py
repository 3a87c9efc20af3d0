"""Ids: normalised text (" 17850.0" and 17850 are the same id) numbered 0..n-1 in natural order.

Natural order sorts numeric-looking ids by value, then the rest as text, so MovieLens user 2 comes
before user 10. `encode_present` numbers a whole column at once; `IdDictionary` does the same for a
file streamed chunk by chunk, and both give the numbering `load_dataset` gives.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.data.errors import DataError
from recsys.data.values import is_nested, normalise_values, single_array


def normalise_id(value) -> str:
    """One id as the loader stores it: stripped text, ``17850.0`` as ``17850``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return re.sub(r"^([-+]?\d+)\.0+$", r"\1", text)


def id_codes(column, *, role: str, column_name: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Factorise an id column: codes int64 (-1 = missing) and the unique ids as str."""
    array = single_array(column)
    n = len(array)
    if pa.types.is_null(array.type):
        return np.full(n, -1, dtype=np.int64), np.array([], dtype=object)
    if is_nested(array.type):
        raise DataError(f"{name}: the {role} column {column_name!r} holds nested values (lists/objects); "
                        f"ids must be text or numbers - pick another column with {role}_col=.")
    encoded = array.dictionary_encode()
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    dictionary = encoded.dictionary
    if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
        dictionary = dictionary.cast(pa.string())
    values = normalise_values(dictionary)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = np.append(codes.astype(np.int64), -1)
    return lookup[indices], np.asarray(uniques, dtype=object)


def natural_order(ids: np.ndarray) -> np.ndarray:
    """Permutation sorting ids naturally: numeric-looking ids by value first, then the rest as text."""
    if len(ids) == 0:
        return np.array([], dtype=np.int64)
    series = pd.Series(ids, dtype=object)
    numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    numeric = np.isfinite(numbers.to_numpy())
    frame = pd.DataFrame({"text_first": ~numeric, "number": np.where(numeric, numbers.to_numpy(), 0.0),
                          "text": series.astype(str)})
    return frame.sort_values(["text_first", "number", "text"], kind="mergesort").index.to_numpy()


def encode_present(codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-number the ids that occur in `codes` 0..k-1 in natural order; returns (new codes, ids)."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(values)) > 0)
    ordered = present[natural_order(values[present])]
    lookup = np.full(len(values), -1, dtype=np.int64)
    lookup[ordered] = np.arange(len(ordered))
    return lookup[codes], values[ordered]


class IdDictionary:
    """Original ids (normalised text) -> contiguous codes in order of first appearance; grows chunk by chunk."""

    def __init__(self):
        self.codes: dict = {}

    def encode(self, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Global codes for a chunk's factorised `codes` (indices into its unique `values`)."""
        present = np.flatnonzero(np.bincount(codes, minlength=len(values)) > 0)
        lookup = np.full(len(values), -1, dtype=np.int64)
        table = self.codes
        lookup[present] = [table.setdefault(v, len(table)) for v in values[present]]
        return lookup[codes]

    def natural_numbering(self) -> tuple[np.ndarray, np.ndarray]:
        """(new index per global code, ids in natural order) - the numbering `load_dataset` gives."""
        ids = np.array(list(self.codes), dtype=object)
        order = natural_order(ids)
        rank = np.empty(len(ids), dtype=np.int64)
        rank[order] = np.arange(len(ids))
        return rank, ids[order]
