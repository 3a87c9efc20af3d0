"""Interaction and item-metadata loading: any common file in, a clean typed `Dataset` plus a report out.

`load_dataset` recognises the file format from content (see `recsys.formats`), maps columns by their
usual names (or by position in headerless files), drops unusable rows with a count and examples per
reason, encodes ids as contiguous ints in natural order and attaches item titles, texts and categories.
Fatal problems raise `DataError` with one line that names the file, the row/column and what to do.

Example:
    >>> ds = load_dataset("ml-100k/u.data", items="ml-100k/u.item")
    >>> ds.n_users, ds.n_items, len(ds.events)
    (943, 1682, 100000)
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recsys.formats import (DATE_LIKE, DEFAULT_MAX_BYTES, MISSING_TOKENS, DataError, RawTable, display_name, is_number,
                            open_table)

__all__ = ["DEFAULT_MAX_BYTES", "NO_ITEM_TEXT_WARNING", "SUPPORTED_FORMATS_HELP", "DataError", "Dataset", "build_dataset",
           "load_dataset", "load_item_metadata", "sniff_columns", "MOVIELENS_GENRES", "DROP_REASONS"]

USER_ALIASES = ("user", "userid", "uid", "customer", "customerid", "reviewerid", "visitorid", "clientid",
                "accountid", "memberid", "buyerid", "personid", "readerid", "viewerid", "profileid", "playerid",
                "studentid", "subscriberid", "username", "users")
ITEM_ALIASES = ("item", "itemid", "iid", "movieid", "movie", "product", "productid", "stockcode", "asin", "sku",
                "skuid", "articleid", "contentid", "trackid", "songid", "bookid", "isbn", "videoid", "itemcode",
                "productcode", "parentasin", "businessid", "artistid", "placeid", "hotelid", "courseid", "newsid",
                "postid", "recipeid", "animeid", "gameid", "appid", "items")
RATING_ALIASES = ("rating", "ratings", "score", "overall", "stars", "bookrating", "userrating", "quantity", "qty", "weight", "preference",
                  "ratingvalue", "playcount", "plays", "clicks")
TIME_ALIASES = ("timestamp", "unixreviewtime", "datetime", "time", "date", "invoicedate", "eventtime", "ts",
                "timestampms", "createdat", "eventdate", "eventtimestamp", "ratingtime", "ratingdate",
                "orderdate", "purchasedate")
INVOICE_ALIASES = ("invoiceno", "invoice", "invoiceid", "invoicenumber")
QUANTITY_NAMES = {"quantity", "qty", "weight", "playcount", "plays", "clicks"}
META_ID_ALIASES = ("itemid", "item", "id", "movieid", "asin", "stockcode", "productid", "product", "sku",
                   "bookid", "isbn", "iid", "skuid", "articleid", "contentid", "trackid", "songid", "videoid",
                   "itemcode", "productcode", "parentasin", "movie")
TITLE_ALIASES = ("title", "name", "itemname", "itemtitle", "productname", "producttitle", "movietitle", "booktitle")
DESCRIPTION_ALIASES = ("description", "desc", "text", "overview", "itemdescription", "productdescription",
                       "plot", "synopsis", "summary", "content", "about")
CATEGORY_ALIASES = ("categories", "category", "genres", "genre", "tags", "tag", "labels", "keywords")
REVIEW_SUMMARY_ALIASES = ("summary", "reviewsummary", "reviewtitle", "headline")
REVIEW_SUMMARIES_PER_ITEM = 10
"""An item's text from reviews: its first distinct review summaries, in event order, up to this many."""
NO_ITEM_TEXT_WARNING = ("no item has text (title, description or categories): the content part of the model "
                        "learns from item ids alone, so the new-item scorer and the content maps cannot work "
                        "from text; add an item metadata file with titles or descriptions")
"""The report warning of a dataset without any item text (pages show it prominently)."""

MOVIELENS_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                    "Sci-Fi", "Thriller", "War", "Western")
"""Genre names of the 19 flag columns of MovieLens ``u.item``, in ``u.genre`` order."""

DROP_REASONS = ("malformed_row", "repeated_header", "missing_user", "missing_item", "cancelled", "missing_rating", "nan_rating",
                "infinite_rating", "negative_rating", "non_positive_quantity", "missing_timestamp")
"""Drop reasons in the order they are checked; a row is counted under the first reason it fails."""

_DROP_EXPLANATIONS = {
    "malformed_row": "rows with a wrong number of fields",
    "repeated_header": "repeated header lines (e.g. concatenated CSV files)",
    "missing_user": "rows without a user id",
    "missing_item": "rows without an item id",
    "cancelled": "cancellation rows (invoice number starting with 'C')",
    "missing_rating": "rows with an empty rating",
    "nan_rating": "rows whose rating is NaN",
    "infinite_rating": "rows whose rating is infinite",
    "negative_rating": "rows with a negative rating",
    "non_positive_quantity": "rows whose quantity/weight is zero or negative (returns, adjustments)",
    "missing_timestamp": "rows without a timestamp",
}

SUPPORTED_FORMATS_HELP = (
    "Interactions: CSV, TSV, '::', '|', ';' or space separated text, JSON Lines, JSON array or Parquet, optionally "
    "gzip/zip-compressed; the format is detected from the content. Columns are found by name (any case, "
    "'_' optional) - user: user/userId/user_id/customer_id/CustomerID/reviewerID/visitorid; item: "
    "item/itemId/movieId/product_id/StockCode/asin/sku; rating (optional): rating/score/overall/Quantity/weight; "
    "time (optional): timestamp/time/date/datetime/InvoiceDate/unixReviewTime/event_time (unix s/ms/us/ns or "
    "date strings). Files without a header are read as user, item, rating, timestamp by position "
    "(MovieLens u.data, ratings.dat). Item metadata (optional): item_id/movieId/asin/StockCode, title/name, "
    "description/overview/text, categories/genres/tags ('A|B', 'A;B', 'A,B' or JSON lists); MovieLens u.item, "
    "movies.dat and movies.csv are recognised."
)
"""Short human description of accepted files, for UI and CLI help texts."""

_KNOWN_NAMES = set(USER_ALIASES + ITEM_ALIASES + RATING_ALIASES + TIME_ALIASES + INVOICE_ALIASES + META_ID_ALIASES
                   + TITLE_ALIASES + DESCRIPTION_ALIASES + CATEGORY_ALIASES)
_MIN_SECONDS, _MAX_SECONDS = -2_208_988_800, 4_102_444_800  # 1900-01-01 .. 2100-01-01
_EXAMPLES = 5


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# --------------------------------------------------------------------------------------------- Dataset


@dataclass(eq=False)
class Dataset:
    """Clean interactions with contiguous integer ids, item metadata and a validation report.

    Attributes:
        events: columns user int32, item int32, rating float32, timestamp int64 (unix seconds); sorted by
            (user, timestamp, original file row), which is the stable tie rule; RangeIndex. Repeated
            (user, item) events are kept: they are sequence events.
        items: one row per item index (RangeIndex == item index): item_id, title, text (str, "" if none),
            categories (list[str]), n_events (int64, 0 for cold-start catalogue items).
        user_ids: index -> original user id (str).
        item_ids: index -> original item id (str), interacted items first, then metadata-only items.
        report: JSON-serialisable validation report.
        name: display name of the data set.
        has_timestamps: False when the file had no time column (timestamp is then the file row order).
        has_ratings: False when the file had no rating column (rating is then 1.0).
    """

    events: pd.DataFrame
    items: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    report: dict
    name: str
    has_timestamps: bool
    has_ratings: bool
    _lookups: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def n_users(self) -> int:
        """Number of users (all have at least one event)."""
        return int(len(self.user_ids))

    @property
    def n_items(self) -> int:
        """Number of catalogue items, including cold-start items without events."""
        return int(len(self.item_ids))

    def _index(self, kind: str, ids: np.ndarray, original) -> int:
        if kind not in self._lookups:
            self._lookups[kind] = pd.Index(pd.Series(ids, dtype=object))
        key = _normalise_id_scalar(original)
        try:
            position = self._lookups[kind].get_loc(key)
        except KeyError:
            position = None
        if not isinstance(position, (int, np.integer)):
            raise KeyError(f"{kind} id {original!r} is not in data set {self.name!r} "
                           f"({len(ids)} {kind}s, e.g. {', '.join(map(str, ids[:3]))})")
        return int(position)

    def user_index(self, original_id) -> int:
        """Index of an original user id (``"196"`` or 196); KeyError with a clear message if unknown."""
        return self._index("user", self.user_ids, original_id)

    def item_index(self, original_id) -> int:
        """Index of an original item id; KeyError with a clear message if unknown."""
        return self._index("item", self.item_ids, original_id)

    def fingerprint(self) -> str:
        """SHA-256 hex digest of the content (events, ids, item metadata), stable across runs.

        Computed once: a Dataset is never mutated after loading (pages ask for it on every rerun).
        """
        if "fingerprint" not in self._lookups:
            self._lookups["fingerprint"] = self._content_digest()
        return self._lookups["fingerprint"]

    def _content_digest(self) -> str:
        digest = hashlib.sha256()
        for column in ("user", "item", "rating", "timestamp"):
            digest.update(np.ascontiguousarray(self.events[column].to_numpy()).tobytes())
        for values in (self.user_ids, self.item_ids, self.items["title"], self.items["text"]):
            digest.update("\x00".join(map(str, values)).encode("utf-8", "surrogatepass"))
            digest.update(b"\x01")
        digest.update("\x00".join("\x1f".join(c) for c in self.items["categories"]).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()


# --------------------------------------------------------------------------------------------- column roles


def _find_column(columns: list[str], aliases: tuple, taken: set) -> str | None:
    normalised = {column: _norm(column) for column in columns}
    for alias in aliases:
        for column in columns:
            if column not in taken and normalised[column] == alias:
                return column
    return None


def _override(columns: list[str], value: str, argument: str, name: str) -> str:
    if value in columns:
        return value
    matches = [column for column in columns if _norm(column) == _norm(value)]
    if matches:
        return matches[0]
    position = re.fullmatch(r"(?:column_?)?(\d+)", str(value).strip().lower())
    if position and 1 <= int(position.group(1)) <= len(columns):
        return columns[int(position.group(1)) - 1]
    shown = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
    raise DataError(f"{name}: column {value!r} given as {argument} is not in the file; the columns are: {shown}.")


def _missing_role(role: str, columns: list[str], aliases: tuple, fix: str | None, name: str) -> DataError:
    """The error for a file without a user/item column: the columns seen and the names recognised."""
    shown = ", ".join(map(str, columns[:20])) + (" ..." if len(columns) > 20 else "")
    return DataError(f"{name}: no {role} column found (columns seen: {shown}); name it one of "
                     f"{', '.join(aliases[:10])} (any case, '_' optional)" + (f" or {fix}." if fix else "."))


def _event_roles(columns: list[str], overrides: dict, name: str, defaults: dict | None = None) -> dict:
    """Map roles (user, item, rating, timestamp, invoice, title, description, categories) to columns.

    Explicit overrides win, then `defaults` (the guess for a headerless file), then known column names.
    """
    roles: dict = {}
    taken: set = set()
    spec = (("user", USER_ALIASES, "user_col"), ("item", ITEM_ALIASES, "item_col"),
            ("rating", RATING_ALIASES, "rating_col"), ("timestamp", TIME_ALIASES, "time_col"))
    for role, _, argument in spec:
        if overrides.get(argument) is not None:
            roles[role] = _override(columns, overrides[argument], argument, name)
            taken.add(roles[role])
    for role, _, _ in spec:
        guess = (defaults or {}).get(role)
        if role not in roles and guess is not None and guess not in taken:
            roles[role] = guess
            taken.add(guess)
    for role, aliases, _ in spec:
        if role not in roles:
            roles[role] = _find_column(columns, aliases, taken)
            if roles[role] is not None:
                taken.add(roles[role])
    for role, aliases, argument in spec[:2]:
        if roles[role] is None:
            raise _missing_role(role, columns, aliases, f"pass {argument}=<column>", name)
    if roles["user"] == roles["item"]:
        raise DataError(f"{name}: the same column {roles['user']!r} was chosen for users and items; "
                        "pass different user_col and item_col.")
    roles["invoice"] = _find_column(columns, INVOICE_ALIASES, taken)
    for role, aliases in (("title", tuple(a for a in TITLE_ALIASES if a != "name")),
                          ("description", ("description", "desc", "itemdescription", "productdescription", "overview",
                                           "plot", "synopsis")),
                          ("categories", CATEGORY_ALIASES)):
        roles[role] = _find_column(columns, aliases, taken | {roles["invoice"]})
        if roles[role] is not None:
            taken.add(roles[role])
    # Amazon review files carry no item text but a one-line review `summary`: the fallback item text.
    roles["review_summary"] = None
    if not any(roles[role] for role in ("title", "description", "categories")):
        roles["review_summary"] = _find_column(columns, REVIEW_SUMMARY_ALIASES, taken | {roles["invoice"]})
    return roles


def _cell_kind(values: list[str]) -> str:
    """Kind of a sample column: "empty", "number", "epoch" (integers >= 1e8), "date" or "text"."""
    values = [v.strip() for v in values if v.strip()]
    if not values:
        return "empty"
    if all(is_number(v) for v in values):
        numbers = [float(v) for v in values]
        return "epoch" if all(abs(x) >= 1e8 and x.is_integer() for x in numbers) else "number"
    if all(DATE_LIKE.search(v) for v in values):
        return "date"
    return "text"


def _headerless_roles(layout) -> tuple[list[str], dict]:
    """Column names (column_1..n) and roles of a headerless file.

    Position decides when the content agrees (user, item, [rating], [timestamp], as in MovieLens u.data and
    ratings.dat); otherwise the first date column (or integer epoch column after the first two) is the time,
    the first two other columns are user and item, and the next numeric column is the rating.
    """
    n = layout.n_columns
    names = [f"column_{i + 1}" for i in range(n)]
    kinds = [_cell_kind([row[i] for row in layout.sample_rows if i < len(row)]) for i in range(n)]
    roles: dict = {"user": None, "item": None, "rating": None, "timestamp": None}
    if n < 2:
        return names, roles
    timelike = ("epoch", "date", "number", "empty")
    if n == 2 or (n == 3 and kinds[2] in ("number", "epoch", "date", "empty")) or (
            n >= 4 and kinds[2] in ("number", "empty") and kinds[3] in timelike):
        roles.update(user=names[0], item=names[1])
        if n == 3:
            roles["timestamp" if kinds[2] in ("epoch", "date") else "rating"] = names[2]
        elif n >= 4:
            roles.update(rating=names[2], timestamp=names[3])
        return names, roles
    later = [i for i in range(1, n) if kinds[i] == "date"] or [i for i in range(2, n) if kinds[i] == "epoch"]
    time_index = later[0] if later else None
    others = [i for i in range(n) if i != time_index]
    roles.update(user=names[others[0]], item=names[others[1]],
                 timestamp=names[time_index] if time_index is not None else None)
    numeric = [i for i in others[2:] if kinds[i] == "number"]
    roles["rating"] = names[numeric[0]] if numeric else None
    return names, roles


# --------------------------------------------------------------------------------------------- conversions


def _combine(column) -> pa.Array:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _is_nested(array_type) -> bool:
    return (pa.types.is_list(array_type) or pa.types.is_large_list(array_type) or pa.types.is_struct(array_type)
            or pa.types.is_map(array_type) or pa.types.is_fixed_size_list(array_type))


def _normalise_values(values: pa.Array) -> pd.Series:
    """Strip ids, turn missing spellings into None and ``17850.0`` into ``17850`` (object Series)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(values)
    missing = pc.or_kleene(pc.is_null(trimmed),
                           pc.is_in(pc.utf8_lower(trimmed), value_set=pa.array(MISSING_TOKENS))).fill_null(True)
    cleaned = pc.replace_substring_regex(trimmed, pattern=r"^([-+]?\d+)\.0+$", replacement=r"\1")
    cleaned = pc.if_else(missing, pa.scalar(None, type=cleaned.type), cleaned)
    return pd.Series(cleaned.to_numpy(zero_copy_only=False), dtype=object)


def _normalise_id_scalar(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return re.sub(r"^([-+]?\d+)\.0+$", r"\1", text)


def _id_codes(column, *, role: str, column_name: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Factorise an id column: codes int64 (-1 = missing) and the unique ids as str."""
    array = _combine(column)
    n = len(array)
    if pa.types.is_null(array.type):
        return np.full(n, -1, dtype=np.int64), np.array([], dtype=object)
    if _is_nested(array.type):
        raise DataError(f"{name}: the {role} column {column_name!r} holds nested values (lists/objects); "
                        f"ids must be text or numbers - pick another column with {role}_col=.")
    encoded = array.dictionary_encode()
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    dictionary = encoded.dictionary
    if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
        dictionary = dictionary.cast(pa.string())
    values = _normalise_values(dictionary)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = np.append(codes.astype(np.int64), -1)
    return lookup[indices], np.asarray(uniques, dtype=object)


def _natural_order(ids: np.ndarray) -> np.ndarray:
    """Permutation sorting ids naturally: numeric-looking ids by value first, then the rest as text."""
    if len(ids) == 0:
        return np.array([], dtype=np.int64)
    series = pd.Series(ids, dtype=object)
    numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    numeric = np.isfinite(numbers.to_numpy())
    frame = pd.DataFrame({"text_first": ~numeric, "number": np.where(numeric, numbers.to_numpy(), 0.0),
                          "text": series.astype(str)})
    return frame.sort_values(["text_first", "number", "text"], kind="mergesort").index.to_numpy()


def _first_bad(mask: np.ndarray, raw: RawTable, values) -> tuple[int, object]:
    position = int(np.flatnonzero(mask)[0])
    value = values[position]
    return int(raw.data_rows([position])[0]), value.item() if isinstance(value, np.generic) else value


def _to_float(column, *, column_name: str, raw: RawTable, name: str, argument: str,
              ignore: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratings as float64 (NaN where missing) plus the mask of empty cells; rows in `ignore` never raise."""
    array = _combine(column)
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
    series = _normalise_values(array)
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
    uniques = _normalise_values(encoded.dictionary)
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


def _to_seconds(column, *, column_name: str, raw: RawTable, name: str,
                ignore: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Timestamps as int64 unix seconds, the mask of missing cells and the unit that was detected.

    Rows in `ignore` (already dropped for another reason) never raise; unreadable values there count as missing.
    """
    array = _combine(column)
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


def _strings(column) -> np.ndarray:
    """Column as an object array of stripped str ("" for missing); nested values become JSON text."""
    array = _combine(column)
    if pa.types.is_null(array.type):
        return np.full(len(array), "", dtype=object)
    if _is_nested(array.type):
        values = array.to_pylist()
        return np.array(["" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                         for v in values], dtype=object)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    array = pc.utf8_trim_whitespace(array).fill_null("")
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)


# --------------------------------------------------------------------------------------------- item metadata


def _flatten(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        out: list[str] = []
        for element in value:
            out.extend(_flatten(element))
        return out
    if isinstance(value, dict):
        return _flatten(list(value.values()))
    return [str(value)]


def _category_separator(values) -> str | None:
    sample = [v for v in values[:2000] if isinstance(v, str) and v and not v.lstrip().startswith("[")]
    for separator in ("|", ";", ","):
        if any(separator in v for v in sample):
            return separator
    return None


def _parse_categories(value, separator: str | None) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parts = _flatten(json.loads(text))
            except (ValueError, RecursionError):
                parts = text.strip("[]").replace("'", "").replace('"', "").split(",")
        else:
            parts = text.split(separator) if separator else [text]
    else:
        parts = _flatten(value)
    seen: dict[str, None] = {}
    for part in parts:
        part = str(part).strip()
        if part and part.lower() not in ("(no genres listed)", "nan", "none", "null"):
            seen.setdefault(part, None)
    return list(seen)


def _plain_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                return " ".join(p.strip() for p in _flatten(json.loads(text)) if p.strip())
            except (ValueError, RecursionError):
                return text
        return text
    return " ".join(p.strip() for p in _flatten(value) if p.strip())


def _item_text(title: str, description: str, categories: list[str]) -> str:
    if description:
        return description
    if title and categories:
        return f"{title}. {', '.join(categories)}"
    return title or ", ".join(categories)


def _meta_layout_names(layout) -> tuple[list[str], bool]:
    """Column names for a headerless metadata file; True when it is MovieLens u.item (19 genre flags)."""
    n = layout.n_columns
    rows = [row for row in layout.sample_rows if len(row) == n]
    if n >= 20 and rows and all(cell.strip() in ("0", "1") for row in rows for cell in row[-19:]):
        names = ["item_id", "title"] + [f"column_{i + 1}" for i in range(2, n - 19)] + [f"genre_{g}" for g in range(19)]
        return names, True
    base = {1: ["item_id"], 2: ["item_id", "title"], 3: ["item_id", "title", "categories"]}.get(
        n, ["item_id", "title", "description", "categories"])
    return base + [f"column_{i + 1}" for i in range(len(base), n)], False


def _metadata_roles(columns: list[str], name: str) -> dict:
    taken: set = set()
    roles = {}
    for role, aliases in (("item_id", META_ID_ALIASES), ("title", TITLE_ALIASES),
                          ("description", DESCRIPTION_ALIASES), ("categories", CATEGORY_ALIASES)):
        roles[role] = _find_column(columns, aliases, taken)
        if roles[role] is not None:
            taken.add(roles[role])
    if roles["item_id"] is None:
        raise _missing_role("item id", columns, META_ID_ALIASES, None, name)
    return roles


def _metadata_frame(table: pa.Table, roles: dict, genre_columns: list[str], *, name: str) -> tuple[pd.DataFrame, dict]:
    """Normalise metadata columns into item_id, title, description, categories; first duplicate wins."""
    codes, uniques = _id_codes(table.column(roles["item_id"]), role="item", column_name=roles["item_id"], name=name)
    n = table.num_rows
    titles = _strings(table.column(roles["title"])) if roles.get("title") else np.full(n, "", dtype=object)
    raw_descriptions = (table.column(roles["description"]).to_pylist() if roles.get("description")
                        else [None] * n)
    if roles.get("categories"):
        raw_categories = table.column(roles["categories"]).to_pylist()
        separator = _category_separator(raw_categories)
        categories = [_parse_categories(v, separator) for v in raw_categories]
    elif genre_columns:
        flags = np.column_stack([_strings(table.column(c)) == "1" for c in genre_columns]) if n else np.zeros((0, 19), bool)
        categories = [[MOVIELENS_GENRES[g] for g in np.flatnonzero(row)] for row in flags]
    else:
        categories = [[] for _ in range(n)]
    titles = np.array([_plain_text(t) for t in titles], dtype=object)
    descriptions = [_plain_text(v) for v in raw_descriptions]
    frame = pd.DataFrame({"code": codes, "title": titles, "description": pd.Series(descriptions, dtype=object),
                          "categories": pd.Series(categories, dtype=object)})
    missing = frame["code"] < 0
    frame = frame[~missing]
    duplicated = frame["code"].duplicated(keep="first")
    frame = frame[~duplicated]
    frame.insert(0, "item_id", uniques[frame["code"].to_numpy()] if len(frame) else np.array([], dtype=object))
    report = {"rows_read": int(n), "n_items": int(len(frame)), "n_missing_ids": int(missing.sum()),
              "n_duplicate_ids": int(duplicated.sum()),
              "columns": {k: v for k, v in roles.items() if v is not None}}
    return frame.drop(columns="code").reset_index(drop=True), report


def load_item_metadata(source, *, name: str | None = None, max_bytes: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Read an item metadata file into (frame, report).

    The frame has item_id (str), title (str), description (str) and categories (list[str]), one row per
    item id (the first row wins for duplicated ids). MovieLens ``u.item`` (19 genre flags), ``movies.dat``
    and ``movies.csv`` are recognised, as are CSV/TSV/JSON Lines/Parquet files with usual column names.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    state: dict = {"genres": []}

    def choose(layout):
        if layout.header is not None:
            names = layout.header
        else:
            names, movielens = _meta_layout_names(layout)
            state["genres"] = names[-19:] if movielens else []
        return names, list(dict.fromkeys(names))

    try:
        raw = open_table(source, name=name, max_bytes=limit, known_names=_KNOWN_NAMES, choose_columns=choose,
                         newlines_in_values=True)
        label = _label(source, name)
        columns = list(raw.table.column_names)
        roles = _metadata_roles(columns, label)
        if state["genres"]:
            roles["categories"] = None
        frame, report = _metadata_frame(raw.table, roles, state["genres"], name=label)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - the loader promises DataError for every bad file
        raise _unexpected(source, name, exc) from exc
    report.update(format=_format_label(raw.info), warnings=list(raw.warnings),
                  movielens_genres=bool(state["genres"]))
    return frame, report


# --------------------------------------------------------------------------------------------- assembly


def _label(source, name) -> str:
    return display_name(source, name)


def _unexpected(source, name, exc: Exception) -> DataError:
    message = " ".join(str(exc).split())[:160] or type(exc).__name__
    return DataError(f"{_label(source, name)} could not be read ({type(exc).__name__}: {message}); check that it is "
                     "a CSV/TSV/JSON Lines/Parquet file with user and item columns.")


def _format_label(info: dict) -> str:
    fmt = info.get("format", "?")
    if fmt == "delimited":
        fmt = {"\t": "tsv", ",": "csv", "::": "'::'-separated text", "|": "'|'-separated text",
               ";": "';'-separated text", " ": "space-separated text"}.get(info.get("delimiter"), "text")
        fmt += "" if info.get("has_header") else " (no header)"
    if info.get("container"):
        fmt += f" in {info['container']}"
    return fmt


def _mode_code_per_item(items: np.ndarray, codes: np.ndarray, n_items: int) -> np.ndarray:
    """Most frequent code >= 0 per item (ties: the code seen first); -1 where none."""
    out = np.full(n_items, -1, dtype=np.int64)
    keep = codes >= 0
    if not keep.any():
        return out
    frame = pd.DataFrame({"item": items[keep], "value": codes[keep], "position": np.arange(int(keep.sum()))})
    stats = frame.groupby(["item", "value"], sort=False).agg(n=("position", "size"), first=("position", "min"))
    stats = stats.reset_index().sort_values(["item", "n", "first"], ascending=[True, False, True], kind="mergesort")
    best = stats.drop_duplicates("item")
    out[best["item"].to_numpy()] = best["value"].to_numpy()
    return out


def _mode_per_item(items: np.ndarray, values: np.ndarray, n_items: int) -> np.ndarray:
    """Most frequent non-empty value per item (ties: the value seen first); "" where none."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    uniques = np.append(np.asarray(uniques, dtype=object), "")
    codes = np.where(uniques[codes] == "", -1, codes)
    return uniques[_mode_code_per_item(items, codes, n_items)]  # -1 picks the "" appended last


def _joined_per_item(items: np.ndarray, values: np.ndarray, n_items: int, *, order_by: np.ndarray,
                     limit: int = REVIEW_SUMMARIES_PER_ITEM) -> np.ndarray:
    """Per item, its first `limit` distinct non-empty values (earliest `order_by` first) joined by ". "."""
    out = np.full(n_items, "", dtype=object)
    frame = pd.DataFrame({"item": items, "value": pd.Series(values, dtype=object), "when": order_by})
    frame = frame[frame["value"] != ""].sort_values("when", kind="stable").drop_duplicates(["item", "value"])
    if frame.empty:
        return out
    joined = frame.groupby("item", sort=False).head(limit).groupby("item", sort=False)["value"].agg(". ".join)
    out[joined.index.to_numpy(dtype=np.int64)] = joined.to_numpy(dtype=object)
    return out


def require_two_users_and_items(name: str, user_ids, item_ids) -> None:
    """Raises DataError when cleaning left a single user or item: nothing to recommend from."""
    if len(user_ids) < 2:
        raise DataError(f"{name}: only one user ({user_ids[0]!r}) is left after cleaning; a recommender needs "
                        "events from at least 2 users - check the user column (user_col=).")
    if len(item_ids) < 2:
        raise DataError(f"{name}: only one item ({item_ids[0]!r}) is left after cleaning; a recommender needs "
                        "at least 2 items - check the item column (item_col=).")


def _drop_report(reasons: np.ndarray, raw: RawTable) -> dict:
    dropped: dict = {}
    if raw.skipped_rows:
        dropped["malformed_row"] = {"count": len(raw.skipped_rows), "examples": [int(r) for r in raw.skipped_rows[:_EXAMPLES]]}
    for code, reason in enumerate(DROP_REASONS[1:], start=1):
        positions = np.flatnonzero(reasons == code)
        if len(positions):
            dropped[reason] = {"count": int(len(positions)),
                               "examples": [int(r) for r in raw.data_rows(positions[:_EXAMPLES])]}
    return dropped


def _iso(seconds: int) -> str:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_order(users: np.ndarray, seconds: np.ndarray, n_users: int) -> np.ndarray | None:
    """Permutation sorting events by (user, timestamp, current position); None if already sorted.

    Packs user, time and position into one int64 so a fast unstable sort gives the stable order; falls
    back to a stable argsort of (user, time) or `np.lexsort` when the bits do not fit.
    """
    n = len(users)
    low = int(seconds.min())
    relative = seconds - low
    if n_users * (int(relative.max()) + 1) < 2**62:
        key = users.astype(np.int64) * (int(relative.max()) + 1) + relative
        if np.all(key[:-1] <= key[1:]):
            return None
    position_bits = max(int(n - 1).bit_length(), 1)
    user_bits = max(int(n_users - 1).bit_length(), 1)
    time_bits = max(int(relative.max()).bit_length(), 1)
    if user_bits + time_bits + position_bits <= 63:
        key = (users.astype(np.int64) << (time_bits + position_bits)) | (relative.astype(np.int64) << position_bits)
        key |= np.arange(n, dtype=np.int64)
        return np.sort(key) & ((1 << position_bits) - 1)
    if user_bits + time_bits <= 63:
        return np.argsort((users.astype(np.int64) << time_bits) | relative.astype(np.int64), kind="stable")
    return np.lexsort((seconds, users))


@dataclass
class _CleanRows:
    """Per-row values after the drop rules: kept positions (file order) and their ratings/times."""

    kept: np.ndarray
    ratings: np.ndarray
    seconds: np.ndarray
    dropped: dict
    roles: dict
    time_unit: str | None
    warnings: list


def _clean_rows(raw: RawTable, roles: dict, user_codes: np.ndarray, item_codes: np.ndarray, *,
                name: str, allow_empty: bool = False) -> _CleanRows:
    """Apply the drop rules of `DROP_REASONS` in order; each dropped row is counted under its first reason.

    `allow_empty` lets a chunk of a streamed file (recsys.ingest) lose every row without an error.
    """
    table = raw.table
    n_rows = table.num_rows
    reasons = np.zeros(n_rows, dtype=np.int8)
    warnings_: list = list(raw.warnings)

    def flag(reason: str, mask: np.ndarray) -> None:
        if mask.any():
            reasons[(reasons == 0) & mask] = DROP_REASONS.index(reason)

    if raw.info.get("format") == "delimited" and raw.info.get("has_header"):
        header = pc.and_(pc.equal(table.column(roles["user"]), roles["user"]),
                         pc.equal(table.column(roles["item"]), roles["item"])).fill_null(False)
        flag("repeated_header", header.to_numpy(zero_copy_only=False))
    flag("missing_user", user_codes < 0)
    flag("missing_item", item_codes < 0)
    if roles.get("invoice"):
        invoices = _combine(table.column(roles["invoice"]))
        if not (pa.types.is_string(invoices.type) or pa.types.is_large_string(invoices.type)):
            invoices = invoices.cast(pa.string())
        starts = pc.starts_with(pc.utf8_upper(pc.utf8_trim_whitespace(invoices)), "C").fill_null(False)
        flag("cancelled", starts.to_numpy(zero_copy_only=False))
    for role in ("rating", "timestamp"):
        if roles.get(role) is not None and table.column(roles[role]).null_count == n_rows:
            warnings_.append(f"the {role} column {roles[role]!r} is empty in every row and was ignored")
            roles = {**roles, role: None}
    if roles.get("rating") is not None:
        ratings, empty = _to_float(table.column(roles["rating"]), column_name=roles["rating"], raw=raw, name=name,
                                   argument="rating_col", ignore=reasons != 0)
        with np.errstate(invalid="ignore"):
            flag("missing_rating", empty)
            flag("nan_rating", np.isnan(ratings))
            flag("infinite_rating", np.isinf(ratings) | (np.abs(ratings) > np.finfo(np.float32).max))
            if _norm(roles["rating"]) in QUANTITY_NAMES:
                flag("non_positive_quantity", ratings <= 0)
            else:
                flag("negative_rating", ratings < 0)
    else:
        ratings = np.ones(n_rows)
    time_unit = None
    if roles.get("timestamp") is not None:
        seconds, missing_time, time_unit = _to_seconds(table.column(roles["timestamp"]),
                                                       column_name=roles["timestamp"], raw=raw, name=name,
                                                       ignore=reasons != 0)
        flag("missing_timestamp", missing_time)
    else:
        seconds = raw.data_rows(np.arange(n_rows)) - 1
    dropped = _drop_report(reasons, raw)
    kept = np.flatnonzero(reasons == 0)
    if len(kept) == 0 and not allow_empty:
        counts = ", ".join(f"{reason} {entry['count']}" for reason, entry in dropped.items())
        raise DataError(f"{name}: no usable rows left after cleaning ({n_rows + len(raw.skipped_rows)} read; "
                        f"dropped: {counts}); fix those rows or choose other columns with "
                        "user_col/item_col/rating_col/time_col.")
    for reason, entry in dropped.items():
        if reason != "malformed_row":
            warnings_.append(f"dropped {entry['count']} {_DROP_EXPLANATIONS[reason]}; e.g. rows {entry['examples']}")
    if len(kept) < n_rows:  # the common all-rows-kept case needs no copies
        ratings, seconds = ratings[kept], seconds[kept]
    return _CleanRows(kept=kept, ratings=ratings, seconds=seconds, dropped=dropped, roles=roles,
                      time_unit=time_unit, warnings=warnings_)


def _encode_present(codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-number the ids that occur in `codes` 0..k-1 in natural order; returns (new codes, ids)."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(values)) > 0)
    ordered = present[_natural_order(values[present])]
    lookup = np.full(len(values), -1, dtype=np.int64)
    lookup[ordered] = np.arange(len(ordered))
    return lookup[codes], values[ordered]


TEXT_ROLES = ("title", "description", "categories")


def _catalogue(derived: dict, items: np.ndarray, interacted_ids: np.ndarray,
               metadata: tuple | None, warnings_: list) -> tuple[np.ndarray, pd.DataFrame]:
    """Item ids and the items frame: interacted items first, then metadata-only (cold) items.

    Titles/descriptions/categories come from the metadata file where it has them, else from `derived`:
    role -> the most frequent value per interacted item of such a column in the interaction rows
    (e.g. Online Retail's Description).
    """
    n_interacted = len(interacted_ids)
    meta_frame = metadata[0] if metadata is not None else None
    catalog_ids = interacted_ids
    meta_rows = np.full(n_interacted, -1)
    if meta_frame is not None and len(meta_frame):
        meta_index = pd.Index(pd.Series(meta_frame["item_id"].to_numpy(), dtype=object))
        meta_rows = meta_index.get_indexer(pd.Series(interacted_ids, dtype=object))
        cold = np.setdiff1d(np.arange(len(meta_frame)), meta_rows[meta_rows >= 0])
        cold_ids = meta_frame["item_id"].to_numpy()[cold]
        cold_order = _natural_order(cold_ids)
        catalog_ids = np.concatenate([interacted_ids, cold_ids[cold_order]]).astype(object)
        meta_rows = np.concatenate([meta_rows, cold[cold_order]])
        if not (meta_rows[:n_interacted] >= 0).any():
            warnings_.append("none of the item ids in the metadata file matches an item id in the "
                             "interactions; check that both files use the same ids")
    n_catalog = len(catalog_ids)
    titles = np.full(n_catalog, "", dtype=object)
    descriptions = np.full(n_catalog, "", dtype=object)
    categories: list = [[] for _ in range(n_catalog)]
    if "title" in derived or "description" in derived:
        titles[:n_interacted] = derived.get("title", derived.get("description"))
        descriptions[:n_interacted] = derived.get("description", np.full(n_interacted, "", dtype=object))
    if "review_text" in derived:  # review summaries: item text, but no title
        descriptions[:n_interacted] = derived["review_text"]
    if "categories" in derived:
        separator = _category_separator(list(derived["categories"]))
        for index, value in enumerate(derived["categories"]):
            categories[index] = _parse_categories(value, separator)
    if meta_frame is not None and len(meta_frame):
        meta_titles = meta_frame["title"].to_numpy(dtype=object)
        meta_descriptions = meta_frame["description"].to_numpy(dtype=object)
        meta_categories = meta_frame["categories"].to_numpy(dtype=object)
        for index in np.flatnonzero(meta_rows >= 0):
            row = meta_rows[index]
            titles[index] = meta_titles[row] or titles[index]
            descriptions[index] = meta_descriptions[row] or descriptions[index]
            categories[index] = list(meta_categories[row]) or categories[index]
    texts = [_item_text(t, d, c) for t, d, c in zip(titles, descriptions, categories)]
    frame = pd.DataFrame({"item_id": pd.Series(catalog_ids, dtype=str), "title": pd.Series(titles, dtype=str),
                          "text": pd.Series(texts, dtype=str), "categories": pd.Series(categories, dtype=object),
                          "n_events": np.bincount(items, minlength=n_catalog).astype(np.int64)})
    return catalog_ids, frame


def _assemble(raw: RawTable, roles: dict, *, name: str, metadata: tuple | None) -> Dataset:
    """Turn a parsed table and its column roles into a Dataset with a validation report."""
    table = raw.table
    n_rows = table.num_rows
    rows_read = n_rows + len(raw.skipped_rows)
    if n_rows == 0:
        if raw.skipped_rows:
            raise DataError(f"{name}: none of its {rows_read} rows has the same number of fields as the first row; "
                            "check the delimiter and quoting.")
        raise DataError(f"{name} has a header but no data rows; add interactions (one row per event).")
    user_codes, user_values = _id_codes(table.column(roles["user"]), role="user", column_name=roles["user"], name=name)
    item_codes, item_values = _id_codes(table.column(roles["item"]), role="item", column_name=roles["item"], name=name)
    clean = _clean_rows(raw, roles, user_codes, item_codes, name=name)
    roles, kept = clean.roles, clean.kept
    if len(kept) < n_rows:
        user_codes, item_codes = user_codes[kept], item_codes[kept]
    users, user_ids = _encode_present(user_codes, user_values)
    items, interacted_ids = _encode_present(item_codes, item_values)
    require_two_users_and_items(name, user_ids, interacted_ids)
    ratings, seconds = clean.ratings, clean.seconds
    n_users, n_interacted = len(user_ids), len(interacted_ids)
    order = _event_order(users, seconds, n_users)
    if order is not None:
        users, items, ratings, seconds, kept = users[order], items[order], ratings[order], seconds[order], kept[order]
    events = pd.DataFrame({"user": users.astype(np.int32), "item": items.astype(np.int32),
                           "rating": ratings.astype(np.float32), "timestamp": seconds.astype(np.int64)})
    warnings_ = clean.warnings
    derived = {role: _mode_per_item(items, _strings(table.column(roles[role]))[kept], len(interacted_ids))
               for role in TEXT_ROLES if roles.get(role)}
    if roles.get("review_summary") and metadata is None:
        derived["review_text"] = _joined_per_item(items, _strings(table.column(roles["review_summary"]))[kept],
                                                  len(interacted_ids), order_by=seconds)
        if (derived["review_text"] != "").any():
            warnings_.append(f"no item text columns: the review summaries (column {roles['review_summary']!r}) "
                             "are used as item text; they come from the same reviews as the events, including "
                             "each user's held-out last review, so content scores on the test split are "
                             "optimistic (load an item metadata file to avoid this)")
    catalog_ids, items_frame = _catalogue(derived, items, interacted_ids, metadata, warnings_)

    has_ratings, has_timestamps = roles.get("rating") is not None, roles.get("timestamp") is not None
    dataset = Dataset(events=events, items=items_frame, user_ids=np.asarray(user_ids, dtype=object),
                      item_ids=np.asarray(catalog_ids, dtype=object), report={}, name=name,
                      has_timestamps=bool(has_timestamps), has_ratings=bool(has_ratings))
    dataset.report = dataset_report(dataset, roles=roles, info=raw.info, rows_read=rows_read, dropped=clean.dropped,
                                    time_unit=clean.time_unit,
                                    meta_report=metadata[1] if metadata is not None else None,
                                    warnings_=warnings_, n_interacted=n_interacted)
    return dataset


def dataset_report(dataset: "Dataset", *, roles: dict, info: dict, rows_read: int, dropped: dict,
                   time_unit: str | None, meta_report: dict | None, warnings_: list, n_interacted: int) -> dict:
    """The validation report of a clean `Dataset` (shared by `load_dataset` and streaming ingest).

    Adds the standard warnings (no time column, no ratings, many short users, duplicated metadata ids)
    to `warnings_`.
    """
    events = dataset.events
    users = events["user"].to_numpy()
    items = events["item"].to_numpy()
    seconds = events["timestamp"].to_numpy()
    n_users = dataset.n_users
    has_ratings, has_timestamps = dataset.has_ratings, dataset.has_timestamps
    quantity = has_ratings and _norm(roles["rating"]) in QUANTITY_NAMES
    per_user = np.bincount(users, minlength=n_users)
    pair_keys = np.sort(users.astype(np.int64) * n_interacted + items)
    n_pairs = int(1 + np.count_nonzero(pair_keys[1:] != pair_keys[:-1]))
    del pair_keys
    low, high = int(seconds.min()), int(seconds.max())
    share_lt3 = float(np.mean(per_user < 3))
    if not has_timestamps:
        warnings_.append("no time column found: the file row order is used as event order")
    if not has_ratings:
        warnings_.append("no rating column found: every event has rating 1.0 (implicit feedback)")
    if share_lt3 > 0.5:
        warnings_.append(f"{share_lt3:.0%} of users have fewer than 3 events; leave-last-out evaluation "
                         "will keep them in training only")
    if meta_report and meta_report.get("n_duplicate_ids"):
        warnings_.append(f"item metadata has {meta_report['n_duplicate_ids']} duplicated item ids; "
                         "the first row of each was used")
    texts = dataset.items["text"].to_numpy(dtype=object)
    if not np.count_nonzero(texts != ""):
        warnings_.append(NO_ITEM_TEXT_WARNING)
    ratings = events["rating"].to_numpy()
    return {
        "name": dataset.name,
        "format": _format_label(info),
        "format_details": {k: info.get(k) for k in ("format", "container", "delimiter", "has_header", "encoding")},
        "columns": {k: v for k, v in roles.items() if v is not None},
        "rows_read": int(rows_read),
        "rows_kept": int(len(events)),
        "dropped": dropped,
        "n_interactions": int(len(events)),
        "n_users": int(n_users),
        "n_items": int(n_interacted),
        "n_catalog_items": int(dataset.n_items),
        "n_cold_items": int(dataset.n_items - n_interacted),
        "density": float(n_pairs / (n_users * n_interacted)),
        "n_duplicate_events": int(len(events) - n_pairs),
        "min_events_per_user": int(per_user.min()),
        "median_events_per_user": float(np.median(per_user)),
        "share_users_under_3_events": share_lt3,
        "has_timestamps": bool(has_timestamps),
        "timestamp_unit": time_unit,
        "first_event": _iso(low) if has_timestamps else None,
        "last_event": _iso(high) if has_timestamps else None,
        "time_span_days": round((high - low) / 86400, 3) if has_timestamps else None,
        "has_ratings": bool(has_ratings),
        "rating_kind": "quantity" if quantity else "explicit" if has_ratings else "implicit",
        "rating_min": float(ratings.min()),
        "rating_max": float(ratings.max()),
        "n_items_with_text": int(np.count_nonzero(texts != "")),
        "n_items_with_categories": int(sum(1 for c in dataset.items["categories"] if c)),
        "metadata": meta_report,
        "warnings": warnings_,
    }


def load_dataset(interactions, items=None, *, name: str | None = None, user_col: str | None = None,
                 item_col: str | None = None, rating_col: str | None = None, time_col: str | None = None,
                 max_bytes: int | None = None, items_name: str | None = None) -> Dataset:
    """Load an interaction file (and optional item metadata file) into a `Dataset`.

    Args:
        interactions: path or bytes (or a file-like upload) of the interaction file; any format listed in
            `SUPPORTED_FORMATS_HELP`, recognised from content.
        items: optional path/bytes of item metadata; its items without events become cold-start items.
        name: file name used for messages and the data set name (needed to label bytes).
        user_col, item_col, rating_col, time_col: explicit column names overriding auto-detection.
        max_bytes: largest accepted file and decompressed content (default `DEFAULT_MAX_BYTES`).
        items_name: file name of `items` when it is bytes (an upload), used in its messages.

    Returns:
        Dataset whose `report` holds: name, format (e.g. "csv in gzip"), format_details (format, container,
        delimiter, has_header, encoding), columns (role -> column used), rows_read, rows_kept,
        dropped ({reason: {"count", "examples": 1-based data rows}}, reasons in `DROP_REASONS` order),
        n_interactions, n_users, n_items (items with events), n_catalog_items, n_cold_items, density
        (distinct user-item pairs / (n_users * n_items)), n_duplicate_events (repeats, kept),
        min_events_per_user, median_events_per_user, share_users_under_3_events, has_timestamps,
        timestamp_unit, first_event / last_event (ISO, UTC), time_span_days, has_ratings, rating_kind
        ("explicit", "quantity" or "implicit"), rating_min, rating_max, n_items_with_text,
        n_items_with_categories, metadata (the metadata file's own report or None) and warnings.

    Raises:
        DataError: one line naming the file, the row/column and what to do.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    label = _label(interactions, name)
    overrides = {"user_col": user_col, "item_col": item_col, "rating_col": rating_col, "time_col": time_col}
    state: dict = {}

    def choose(layout):
        if layout.header is not None:
            names, defaults = layout.header, None
        else:
            names, defaults = _headerless_roles(layout)
        roles = _event_roles(names, overrides, label, defaults)
        state["roles"] = roles
        return names, list(dict.fromkeys(v for v in roles.values() if v is not None))

    try:
        metadata = None
        if items is not None:
            items_label = items_name or (None if not isinstance(items, (bytes, bytearray)) else "items")
            metadata = load_item_metadata(items, name=items_label, max_bytes=limit)
        raw = open_table(interactions, name=name, max_bytes=limit, known_names=_KNOWN_NAMES, choose_columns=choose)
        roles = state.get("roles") or _event_roles(list(raw.table.column_names), overrides, label)
        return _assemble(raw, roles, name=label, metadata=metadata)
    except DataError:
        raise
    except MemoryError as exc:
        raise DataError(f"{label} does not fit in memory; load a sample or lower max_bytes.") from exc
    except Exception as exc:  # noqa: BLE001 - the loader promises DataError for every bad file
        raise _unexpected(interactions, name, exc) from exc


def sniff_columns(source, *, name: str | None = None, max_bytes: int | None = None) -> dict:
    """Columns of an interactions file and the roles auto-detection gives them, for a column-mapping UI.

    Returns {"columns": [...], "roles": {"user", "item", "rating", "timestamp": column or None},
    "format": "csv", "error": None}; never raises - an unreadable file gives no columns and its message.
    Headerless files get the names column_1..column_n, which `load_dataset` accepts as overrides.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    found: dict = {"columns": [], "roles": {}, "format": None, "error": None}
    guesses: dict = {}
    delimited_names: list = []

    def choose(layout):
        if layout.header is not None:
            names = layout.header
        else:
            names, defaults = _headerless_roles(layout)
            guesses.update(defaults)
        delimited_names[:] = names
        return names, names[:1]  # parse one column only: the names are all that is needed

    try:
        raw = open_table(source, name=name, max_bytes=limit, known_names=_KNOWN_NAMES, choose_columns=choose)
        columns = list(delimited_names) or [str(c) for c in raw.table.column_names]
        found["format"] = _format_label(raw.info)
    except Exception as exc:  # noqa: BLE001 - detection is advisory; load_dataset reports the error
        found["error"] = str(exc) if isinstance(exc, DataError) else str(_unexpected(source, name, exc))
        return found
    found["columns"] = columns
    taken: set = set()
    for role, aliases in (("user", USER_ALIASES), ("item", ITEM_ALIASES), ("rating", RATING_ALIASES),
                          ("timestamp", TIME_ALIASES)):
        column = guesses.get(role) or _find_column(columns, aliases, taken)
        found["roles"][role] = column
        if column is not None:
            taken.add(column)
    return found


def _headerless_event_names(layout) -> list[str]:
    """Names of a headerless interactions file's columns (column_1..column_n); kept for UI helpers."""
    return _headerless_roles(layout)[0]


def build_dataset(interactions_frame: pd.DataFrame, items_frame: pd.DataFrame | None = None, *, name: str,
                  report: dict | None = None) -> Dataset:
    """Build a `Dataset` from already-clean frames (e.g. generated demo data).

    Args:
        interactions_frame: columns user_id, item_id and optionally rating and timestamp (unix seconds or
            datetimes).
        items_frame: optional columns item_id, title, description (or text), categories ("A|B" or lists).
        name: data set name.
        report: extra report entries (e.g. a source note); computed statistics always win.
    """
    try:
        columns = [c for c in ("user_id", "item_id", "rating", "timestamp") if c in interactions_frame.columns]
        table = pa.Table.from_pandas(interactions_frame[columns].reset_index(drop=True), preserve_index=False)
        raw = RawTable(table=table, info={"format": "dataframe", "container": None, "delimiter": None,
                                          "has_header": True, "encoding": None})
        roles = {"user": "user_id" if "user_id" in columns else None,
                 "item": "item_id" if "item_id" in columns else None,
                 "rating": "rating" if "rating" in columns else None,
                 "timestamp": "timestamp" if "timestamp" in columns else None}
        for role in ("user", "item"):
            if roles[role] is None:
                raise _missing_role(role, list(interactions_frame.columns), (f"{role}_id",),
                                    f"add a {role}_id column to the frame", name)
        metadata = None
        if items_frame is not None:
            frame = items_frame.rename(columns={"text": "description"}) if "description" not in items_frame else items_frame
            keep = [c for c in ("item_id", "title", "description", "categories") if c in frame.columns]
            meta_table = pa.Table.from_pandas(frame[keep].reset_index(drop=True), preserve_index=False)
            meta_roles = _metadata_roles(list(meta_table.column_names), name)
            metadata = _metadata_frame(meta_table, meta_roles, [], name=name)
        dataset = _assemble(raw, roles, name=name, metadata=metadata)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{name}: the frames could not be converted ({type(exc).__name__}: {str(exc)[:160]}); "
                        "pass user_id/item_id columns of text or integers and numeric rating/timestamp.") from exc
    if report:
        extra = {k: v for k, v in report.items() if k not in dataset.report}
        dataset.report.update(extra)
        dataset.report["warnings"] = dataset.report["warnings"] + list(report.get("warnings", []))
    return dataset
