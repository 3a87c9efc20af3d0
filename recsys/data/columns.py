"""Column roles: which column of a file holds the user, item, rating, time and item text.

Columns are found by their usual names (any case, '_' optional; see the aliases below), by explicit
overrides (``user_col="CustomerID"``, or a 1-based position) or, in files without a header, by
position and content (MovieLens u.data: user, item, rating, timestamp).
"""

from __future__ import annotations

import re

from recsys.data.errors import DataError
from recsys.data.formats import DATE_LIKE, is_number, normalise_name


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


KNOWN_NAMES = set(USER_ALIASES + ITEM_ALIASES + RATING_ALIASES + TIME_ALIASES + INVOICE_ALIASES + META_ID_ALIASES
                  + TITLE_ALIASES + DESCRIPTION_ALIASES + CATEGORY_ALIASES)
"""Normalised column names that mark a first row as a header."""


def find_column(columns: list[str], aliases: tuple, taken: set) -> str | None:
    """The first column not in `taken` whose normalised name is an alias (aliases in order of preference)."""
    normalised = {column: normalise_name(column) for column in columns}
    for alias in aliases:
        for column in columns:
            if column not in taken and normalised[column] == alias:
                return column
    return None


def _override(columns: list[str], value: str, argument: str, name: str) -> str:
    if value in columns:
        return value
    matches = [column for column in columns if normalise_name(column) == normalise_name(value)]
    if matches:
        return matches[0]
    position = re.fullmatch(r"(?:column_?)?(\d+)", str(value).strip().lower())
    if position and 1 <= int(position.group(1)) <= len(columns):
        return columns[int(position.group(1)) - 1]
    shown = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
    raise DataError(f"{name}: column {value!r} given as {argument} is not in the file; the columns are: {shown}.")


def missing_role_error(role: str, columns: list[str], aliases: tuple, fix: str | None, name: str) -> DataError:
    """The error for a file without a user/item column: the columns seen and the names recognised."""
    shown = ", ".join(map(str, columns[:20])) + (" ..." if len(columns) > 20 else "")
    return DataError(f"{name}: no {role} column found (columns seen: {shown}); name it one of "
                     f"{', '.join(aliases[:10])} (any case, '_' optional)" + (f" or {fix}." if fix else "."))


def event_roles(columns: list[str], overrides: dict, name: str, defaults: dict | None = None) -> dict:
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
            roles[role] = find_column(columns, aliases, taken)
            if roles[role] is not None:
                taken.add(roles[role])
    for role, aliases, argument in spec[:2]:
        if roles[role] is None:
            raise missing_role_error(role, columns, aliases, f"pass {argument}=<column>", name)
    if roles["user"] == roles["item"]:
        raise DataError(f"{name}: the same column {roles['user']!r} was chosen for users and items; "
                        "pass different user_col and item_col.")
    roles["invoice"] = find_column(columns, INVOICE_ALIASES, taken)
    for role, aliases in (("title", tuple(a for a in TITLE_ALIASES if a != "name")),
                          ("description", ("description", "desc", "itemdescription", "productdescription", "overview",
                                           "plot", "synopsis")),
                          ("categories", CATEGORY_ALIASES)):
        roles[role] = find_column(columns, aliases, taken | {roles["invoice"]})
        if roles[role] is not None:
            taken.add(roles[role])
    # Amazon review files carry no item text but a one-line review `summary`: the fallback item text.
    roles["review_summary"] = None
    if not any(roles[role] for role in ("title", "description", "categories")):
        roles["review_summary"] = find_column(columns, REVIEW_SUMMARY_ALIASES, taken | {roles["invoice"]})
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


def headerless_roles(layout) -> tuple[list[str], dict]:
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


class EventColumns:
    """`choose_columns` for interaction files: maps the roles, then only the columns that have one are parsed.

    Called by `open_table` / `ChunkedTable` with the sniffed layout; `roles` holds the mapping afterwards.
    """

    def __init__(self, overrides: dict, name: str):
        self.overrides, self.name = overrides, name
        self.roles: dict | None = None

    def __call__(self, layout) -> tuple[list[str], list[str]]:
        if layout.header is not None:
            names, defaults = layout.header, None
        else:
            names, defaults = headerless_roles(layout)
        self.roles = event_roles(names, self.overrides, self.name, defaults)
        return names, list(dict.fromkeys(v for v in self.roles.values() if v is not None))


def metadata_layout_names(layout) -> tuple[list[str], bool]:
    """Column names for a headerless metadata file; True when it is MovieLens u.item (19 genre flags)."""
    n = layout.n_columns
    rows = [row for row in layout.sample_rows if len(row) == n]
    if n >= 20 and rows and all(cell.strip() in ("0", "1") for row in rows for cell in row[-19:]):
        names = ["item_id", "title"] + [f"column_{i + 1}" for i in range(2, n - 19)] + [f"genre_{g}" for g in range(19)]
        return names, True
    base = {1: ["item_id"], 2: ["item_id", "title"], 3: ["item_id", "title", "categories"]}.get(
        n, ["item_id", "title", "description", "categories"])
    return base + [f"column_{i + 1}" for i in range(len(base), n)], False


def metadata_roles(columns: list[str], name: str) -> dict:
    """Map item_id, title, description and categories of an item metadata file to columns."""
    taken: set = set()
    roles = {}
    for role, aliases in (("item_id", META_ID_ALIASES), ("title", TITLE_ALIASES),
                          ("description", DESCRIPTION_ALIASES), ("categories", CATEGORY_ALIASES)):
        roles[role] = find_column(columns, aliases, taken)
        if roles[role] is not None:
            taken.add(roles[role])
    if roles["item_id"] is None:
        raise missing_role_error("item id", columns, META_ID_ALIASES, None, name)
    return roles
