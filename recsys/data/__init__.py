"""Interaction data: any common file in, a clean typed `Dataset` plus a report out; shards for big files.

The modules, from the bottom up:

    errors     DataError, the one error type, and file names for messages
    parsers    bytes of a known format (delimited, JSON, Parquet) -> RawTable
    formats    the one sniffer: container, encoding, JSON or delimiter and header; whole or streamed
    columns    which column is the user, item, rating, time, item text (names, overrides, position)
    values     cells -> ratings, unix seconds, strings;  ids: ids -> 0..n-1 in natural order
    clean      the drop rules and their report, the event order
    catalogue  item metadata files and the items table;  report: the validation report
    dataset    the Dataset;  load: load_dataset, sniff_columns, build_dataset
    shards     big files -> user-sorted Parquet shards (bounded memory), training windows as Parquet
    ratings    the rating threshold and rating weights of training
    demo       the built-in demo data set (import it from `recsys.data.demo`)

Example:
    >>> ds = load_dataset("ml-100k/u.data", items="ml-100k/u.item")
    >>> ds.n_users, ds.n_items, len(ds.events)
    (943, 1682, 100000)
"""

from recsys.data.catalogue import MOVIELENS_GENRES, REVIEW_SUMMARIES_PER_ITEM, load_item_metadata
from recsys.data.clean import DROP_REASONS
from recsys.data.dataset import Dataset
from recsys.data.errors import DataError
from recsys.data.formats import DEFAULT_MAX_BYTES
from recsys.data.load import SUPPORTED_FORMATS_HELP, build_dataset, load_dataset, sniff_columns
from recsys.data.report import NO_ITEM_TEXT_WARNING
from recsys.data.shards import (DEFAULT_SHARD_EVENTS, MANIFEST, ShardedEvents, WindowShards, ingest_to_shards,
                                load_sharded_dataset)

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_SHARD_EVENTS", "DROP_REASONS", "MANIFEST", "MOVIELENS_GENRES",
           "NO_ITEM_TEXT_WARNING", "REVIEW_SUMMARIES_PER_ITEM", "SUPPORTED_FORMATS_HELP", "DataError", "Dataset",
           "ShardedEvents", "WindowShards", "build_dataset", "ingest_to_shards", "load_dataset", "load_item_metadata",
           "load_sharded_dataset", "sniff_columns"]
