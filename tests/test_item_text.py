"""Item text from the interactions file: review summaries as the fallback text, and the no-text warning."""

import json

from recsys.data import NO_ITEM_TEXT_WARNING, REVIEW_SUMMARIES_PER_ITEM, load_dataset


def _jsonl(rows) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


REVIEWS = [
    {"reviewerID": "A", "asin": "X1", "overall": 5.0, "unixReviewTime": 100, "summary": "Great telescope",
     "reviewText": "long text"},
    {"reviewerID": "B", "asin": "X1", "overall": 4.0, "unixReviewTime": 200, "summary": "Sharp optics"},
    {"reviewerID": "C", "asin": "X1", "overall": 4.0, "unixReviewTime": 300, "summary": "Sharp optics"},
    {"reviewerID": "A", "asin": "X2", "overall": 3.0, "unixReviewTime": 150},
    {"reviewerID": "B", "asin": "X2", "overall": 2.0, "unixReviewTime": 250, "summary": ""},
]


def test_amazon_review_summaries_become_item_text_with_the_leakage_warning():
    ds = load_dataset(_jsonl(REVIEWS), name="reviews.jsonl")
    texts = dict(zip(ds.items["item_id"], ds.items["text"]))
    # X1: its distinct summaries in event order; X2 has none (missing and empty).
    assert texts == {"X1": "Great telescope. Sharp optics", "X2": ""}
    assert list(ds.items["title"]) == ["", ""]  # summaries are text, not titles
    assert ds.report["n_items_with_text"] == 1
    assert ds.report["columns"]["review_summary"] == "summary"
    warning = next(w for w in ds.report["warnings"] if "review summaries" in w)
    assert "held-out" in warning and "optimistic" in warning
    assert NO_ITEM_TEXT_WARNING not in ds.report["warnings"]


def test_review_summaries_are_capped_per_item():
    rows = [{"reviewerID": f"u{i}", "asin": "X1", "unixReviewTime": i, "summary": f"summary {i}"} for i in range(30)]
    rows.append({"reviewerID": "u0", "asin": "X2", "unixReviewTime": 99})
    ds = load_dataset(_jsonl(rows), name="many.jsonl")
    text = ds.items["text"].iat[0]
    assert text.split(". ") == [f"summary {i}" for i in range(REVIEW_SUMMARIES_PER_ITEM)]


def test_item_text_columns_win_over_summaries_and_metadata_disables_them():
    rows = [dict(row, title=f"Title {row['asin']}") for row in REVIEWS]
    ds = load_dataset(_jsonl(rows), name="titled.jsonl")
    assert ds.report["columns"].get("review_summary") is None
    assert set(ds.items["text"]) == {"Title X1", "Title X2"}
    meta = b"item_id,title\nX1,Telescope\nX2,Binoculars\n"
    ds = load_dataset(_jsonl(REVIEWS), meta, name="reviews.jsonl", items_name="meta.csv")
    assert list(ds.items["text"]) == ["Telescope", "Binoculars"]
    assert not any("review summaries" in w for w in ds.report["warnings"])


def test_a_dataset_without_item_text_gets_a_warning():
    rows = [{k: v for k, v in row.items() if k != "summary"} for row in REVIEWS]
    ds = load_dataset(_jsonl(rows), name="bare.jsonl")
    assert ds.report["n_items_with_text"] == 0
    assert NO_ITEM_TEXT_WARNING in ds.report["warnings"]
    assert "new-item scorer" in NO_ITEM_TEXT_WARNING and "metadata" in NO_ITEM_TEXT_WARNING
    csv = load_dataset(b"user,item\n1,a\n2,b\n1,b\n", name="plain.csv")
    assert NO_ITEM_TEXT_WARNING in csv.report["warnings"]
