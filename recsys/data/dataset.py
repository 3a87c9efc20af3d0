"""The `Dataset`: clean interactions with contiguous integer ids, the items table and the report."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.data.ids import normalise_id


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
        key = normalise_id(original)
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
