"""Cell values: ratings as floats, times as unix seconds and text columns as strings, from Arrow columns.

Each conversion reads what real files hold (numbers as text, decimal commas, epoch seconds/ms/us/ns,
yyyymmdd integers, ISO and free-form dates) and raises a `DataError` naming the column, the row and the
value it cannot read - except in rows already dropped for another reason (`ignore`).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.errors import DataError
from recsys.data.parsers import RawTable

MISSING_TOKENS = ("", "nan", "none", "null", "na", "n/a", "<na>", "nat")
"""Cell values read as missing (compared case-insensitively after stripping spaces)."""

_MIN_SECONDS, _MAX_SECONDS = -2_208_988_800, 4_102_444_800  # 1900-01-01 .. 2100-01-01


def single_array(column) -> pa.Array:
    """A (chunked) column as one plain array, dictionary-decoded."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def is_nested(array_type) -> bool:
    """True for list, struct and map types (values that are not one id or number)."""
    return (pa.types.is_list(array_type) or pa.types.is_large_list(array_type) or pa.types.is_struct(array_type)
            or pa.types.is_map(array_type) or pa.types.is_fixed_size_list(array_type))


def normalise_values(values: pa.Array) -> pd.Series:
    """Strip ids, turn missing spellings into None and ``17850.0`` into ``17850`` (object Series)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(values)
    missing = pc.or_kleene(pc.is_null(trimmed),
                           pc.is_in(pc.utf8_lower(trimmed), value_set=pa.array(MISSING_TOKENS))).fill_null(True)
    cleaned = pc.replace_substring_regex(trimmed, pattern=r"^([-+]?\d+)\.0+$", replacement=r"\1")
    cleaned = pc.if_else(missing, pa.scalar(None, type=cleaned.type), cleaned)
    return pd.Series(cleaned.to_numpy(zero_copy_only=False), dtype=object)


def _first_bad(mask: np.ndarray, raw: RawTable, values) -> tuple[int, object]:
    position = int(np.flatnonzero(mask)[0])
    value = values[position]
    return int(raw.data_rows([position])[0]), value.item() if isinstance(value, np.generic) else value


def to_float(column, *, column_name: str, raw: RawTable, name: str, argument: str,
             ignore: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratings as float64 (NaN where missing) plus the mask of empty cells; rows in `ignore` never raise."""
    array = single_array(column)
    if pa.types.is_null(array.type):
        return np.full(len(array), np.nan), np.ones(len(array), dtype=bool)
    if (pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_decimal(array.type)
            or pa.types.is_boolean(array.type)):
        empty = array.is_null().to_numpy(zero_copy_only=False)
        return array.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64), empty
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise DataError(f"{name}: the rating column {column_name!r} is not numeric (type {array.type}); "
                        f"pass {argument}=<numeric column> or remove it.")
    numbers = _cast_if_sample_fits(array, pa.float64())
    if numbers is not None:
        return numbers.to_numpy(zero_copy_only=False).astype(np.float64), array.is_null().to_numpy(zero_copy_only=False)
    series = normalise_values(array)
    empty = series.isna().to_numpy()
    numbers = pd.to_numeric(series, errors="coerce")
    if raw.info.get("delimiter") == ";" and numbers.isna().sum() > empty.sum():
        numbers = pd.to_numeric(series.str.replace(",", ".", regex=False), errors="coerce")
    numbers = numbers.astype("float64").to_numpy()
    bad = np.isnan(numbers) & ~empty & ~ignore
    if bad.any():
        row, value = _first_bad(bad, raw, series.to_numpy())
        raise DataError(f"{name}: the rating column {column_name!r} is not numeric: row {row} has {str(value)[:60]!r}; "
                        f"fix that row or pass {argument}=<numeric column>.")
    return numbers, empty


def _looks_like_yyyymmdd(numbers: np.ndarray) -> bool:
    """True when integer times all read as calendar dates 19000101..21001231 (e.g. 20101201)."""
    if not len(numbers):
        return False
    sample = numbers[:200_000]
    month, day = sample // 100 % 100, sample % 100
    return bool(((sample >= 19000101) & (sample <= 21001231) & (month >= 1) & (month <= 12) & (day >= 1)
                 & (day <= 31)).all())


def _time_divisor(values: np.ndarray) -> tuple[int, str]:
    """Divisor to unix seconds guessed from the magnitude of (a sample of) numeric timestamps."""
    sample = values[:200_000]
    sample = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    magnitude = float(np.median(np.abs(sample.astype(np.float64)))) if len(sample) else 0.0
    for limit, divisor, unit in ((1e11, 1, "s"), (1e14, 10**3, "ms"), (1e17, 10**6, "us")):
        if magnitude < limit:
            return divisor, unit
    return 10**9, "ns"


def _parse_datetime_strings(values: pd.Series) -> np.ndarray:
    """Seconds since epoch (float, NaN when unparsable) for date/time strings; naive times count as UTC."""
    epoch = pd.Timestamp(0, tz="UTC")
    out = np.full(len(values), np.nan)
    todo = values.notna().to_numpy().copy()
    attempts = ({"format": "ISO8601"}, {}, {"format": "mixed"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for options in attempts:
            if not todo.any():
                break
            if options.get("format") == "mixed" and todo.sum() > 5000:
                break
            subset = values[todo].astype(str)
            try:
                parsed = pd.to_datetime(subset, utc=True, errors="coerce", **options)
            except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
                continue
            seconds = ((parsed - epoch) // pd.Timedelta(seconds=1)).astype("float64").to_numpy()
            positions = np.flatnonzero(todo)
            out[positions] = seconds
            todo[positions] = np.isnan(seconds)
    return out


def _cast_if_sample_fits(array: pa.Array, target: pa.DataType) -> pa.Array | None:
    """`array` cast to `target`, or None; tries the first rows first, as failing casts are slow."""
    try:
        array.slice(0, 2000).drop_null().cast(target)
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _times_from_unique_strings(array: pa.Array, *, column_name: str, raw: RawTable, name: str, ignore: np.ndarray,
                               hint: str) -> tuple[np.ndarray, bool]:
    """Per-row float times (NaN = missing) parsed once per distinct string; True if they are plain numbers."""
    encoded = array.dictionary_encode()
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = normalise_values(encoded.dictionary)
    present = uniques.notna().to_numpy()
    sample = uniques[present][:2000]
    numeric = bool(len(sample)) and pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5
    if numeric:
        parsed = pd.to_numeric(uniques, errors="coerce").astype("float64").to_numpy()
    else:
        parsed = _parse_datetime_strings(uniques)
    bad_unique = present & np.isnan(parsed)
    if bad_unique.any():
        bad_rows = np.append(bad_unique, False)[indices] & ~ignore
        if bad_rows.any():
            row, value = _first_bad(bad_rows, raw, np.append(uniques.to_numpy(), None)[indices])
            raise DataError(f"{name}: cannot read the timestamp in column {column_name!r} at row {row}: "
                            f"{str(value)[:60]!r} (expected unix seconds/ms or a date like 2024-01-31 12:00); {hint}.")
    return np.append(parsed, np.nan)[indices], numeric


def to_seconds(column, *, column_name: str, raw: RawTable, name: str,
               ignore: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Timestamps as int64 unix seconds, the mask of missing cells and the unit that was detected.

    Rows in `ignore` (already dropped for another reason) never raise; unreadable values there count as missing.
    """
    array = single_array(column)
    n = len(array)
    hint = "fix that row or pass time_col=<column> (or rename the column so it is not taken as time)"
    if pa.types.is_null(array.type):
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool), "none"
    unit = "datetime"
    if pa.types.is_timestamp(array.type) or pa.types.is_date(array.type):
        if pa.types.is_date(array.type):
            array = array.cast(pa.timestamp("s"))
        divisor = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[array.type.unit]
        missing = array.is_null().to_numpy(zero_copy_only=False)
        ints = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return ints // divisor, missing, unit
    if pa.types.is_integer(array.type):
        values = array.cast(pa.int64())
    elif pa.types.is_floating(array.type) or pa.types.is_decimal(array.type) or pa.types.is_boolean(array.type):
        values = array.cast(pa.float64())
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        values = _cast_if_sample_fits(array, pa.int64()) or _cast_if_sample_fits(array, pa.float64())
        if values is None:
            for target, divisor in ((pa.timestamp("s"), 1), (pa.timestamp("s", tz="UTC"), 1),
                                    (pa.timestamp("ns"), 10**9), (pa.timestamp("ns", tz="UTC"), 10**9)):
                parsed = _cast_if_sample_fits(array, target)  # ISO 8601: Arrow parses it natively, fast
                if parsed is not None:
                    ints = parsed.cast(pa.int64())
                    return (ints.fill_null(0).to_numpy(zero_copy_only=False) // divisor,
                            ints.is_null().to_numpy(zero_copy_only=False), unit)
            per_row, numeric = _times_from_unique_strings(array, column_name=column_name, raw=raw, name=name,
                                                          ignore=ignore, hint=hint)
            missing = np.isnan(per_row)
            if not numeric:
                return np.where(missing, 0, per_row).astype(np.int64), missing, unit
            values = pa.array(per_row, from_pandas=True)
    else:
        raise DataError(f"{name}: the time column {column_name!r} has type {array.type}, not numbers or dates; {hint}.")
    missing = values.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(values.type):
        numbers = values.to_numpy(zero_copy_only=False)
        missing |= np.isnan(numbers)
        divisor, unit = _time_divisor(numbers[~missing])
        with np.errstate(invalid="ignore", over="ignore"):
            seconds = np.floor(numbers / divisor)
    else:
        numbers = values.fill_null(0).to_numpy(zero_copy_only=False)
        present = numbers[~missing] if missing.any() else numbers
        if _looks_like_yyyymmdd(present):
            days, positions = np.unique(numbers, return_inverse=True)
            parsed = pd.to_datetime(pd.Series(days.astype(str)), format="%Y%m%d", errors="coerce", utc=True)
            day_seconds = ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=float,
                                                                                                  na_value=np.nan)
            seconds = day_seconds[positions.reshape(-1)]
            missing = missing | np.isnan(seconds)
            return np.where(missing, 0, seconds).astype(np.int64), missing, "yyyymmdd"
        divisor, unit = _time_divisor(present)
        seconds = numbers // divisor if divisor != 1 else numbers
    present = seconds[~missing] if missing.any() else seconds
    if len(present) and (present.min() < _MIN_SECONDS or present.max() > _MAX_SECONDS or np.isnan(present).any()):
        with np.errstate(invalid="ignore"):
            out_of_range = ~missing & ~((seconds >= _MIN_SECONDS) & (seconds <= _MAX_SECONDS))
        missing |= out_of_range & ignore
        out_of_range &= ~ignore
    else:
        out_of_range = None
    if out_of_range is not None and out_of_range.any():
        row, value = _first_bad(out_of_range, raw, numbers)
        raise DataError(f"{name}: the timestamp in column {column_name!r} at row {row} is {value!r}, outside "
                        f"1900-2100 when read as unix {unit}; {hint}.")
    return np.where(missing, 0, seconds).astype(np.int64), missing, unit


def as_strings(column) -> np.ndarray:
    """Column as an object array of stripped str ("" for missing); nested values become JSON text."""
    array = single_array(column)
    if pa.types.is_null(array.type):
        return np.full(len(array), "", dtype=object)
    if is_nested(array.type):
        values = array.to_pylist()
        return np.array(["" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                         for v in values], dtype=object)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    array = pc.utf8_trim_whitespace(array).fill_null("")
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
