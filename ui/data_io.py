"""Data-page glue: server settings for uploads, the column-mapping roles, loading an upload, report tables.

The cached column detection and overview figures are in `ui.resources`.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from recsys import data as rdata

__all__ = ["AUTO", "ROLES", "UPLOAD_LIMIT_MIB", "apply_server_settings", "dropped_table", "load_upload",
           "report_summary", "upload_digest", "upload_limit_style"]

UPLOAD_LIMIT_MIB = rdata.DEFAULT_MAX_BYTES // (1024 * 1024)
"""The uploader's per-file limit: the loader's own limit (512 MiB), as the README says."""
TOOLBAR_MODE = "minimal"  # no "Deploy" button or developer menu


def apply_server_settings() -> None:
    """Settings that must hold however the app is started, whatever config files Streamlit finds.

    Streamlit 1.67 merges ~/.streamlit, $CWD/.streamlit and the script folder's .streamlit/config.toml,
    then environment variables and flags, any of which can differ from what the app needs.
    `client.toolbarMode` is a script option (`st.set_option`; without it a local visitor sees the
    Deploy button); the server reads `server.maxUploadSize` on every upload, so it is set in
    Streamlit's config at runtime to the loader's limit (the uploaders also pass it per widget).
    """
    if st.get_option("client.toolbarMode") != TOOLBAR_MODE:
        st.set_option("client.toolbarMode", TOOLBAR_MODE)
        st.rerun()  # the toolbar mode travels with the next script run's session message
    if st.get_option("server.maxUploadSize") != UPLOAD_LIMIT_MIB:
        from streamlit import config

        try:
            config.set_option("server.maxUploadSize", UPLOAD_LIMIT_MIB, where_defined="app.py (Recsys Studio)")
        except Exception:  # noqa: BLE001 - an internal Streamlit API: the per-widget limits still apply
            pass


def upload_limit_style() -> str:
    """CSS (fixed text, no user data) that states the limit as "512 MiB per file" in the drop zones.

    Streamlit's drop zone rounds any limit above 500 MB up to "1GB per file" (it moves to the next unit
    at half of it and prints no decimals), which contradicts the loader's real 512 MiB limit.
    """
    return ("<style>[data-testid='stFileUploaderDropzoneInstructions'] > div > span:last-child {font-size: 0;}"
            "[data-testid='stFileUploaderDropzoneInstructions'] > div > span:last-child::before "
            f"{{content: 'Limit {UPLOAD_LIMIT_MIB} MiB per file'; font-size: 0.875rem;}}</style>")

AUTO = "(auto)"
ROLES = (("user", "user_col", "User column"), ("item", "item_col", "Item column"),
         ("rating", "rating_col", "Rating column"), ("timestamp", "time_col", "Time column"))


def upload_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def load_upload(interactions, items=None, *, mapping: dict):
    """`load_dataset` on uploaded files with the chosen column overrides ("(auto)" = detect). Raises DataError."""
    overrides = {argument: mapping.get(argument) for _, argument, _ in ROLES
                 if mapping.get(argument) not in (None, AUTO)}
    items_bytes = items.getvalue() if items is not None else None
    return rdata.load_dataset(interactions.getvalue(), items_bytes, name=interactions.name,
                              items_name=items.name if items is not None else None, **overrides)


def dropped_table(report: dict) -> pd.DataFrame:
    """One row per drop reason (kept rows first): reason, rows, examples."""
    rows = [{"reason": "kept", "rows": int(report.get("rows_kept", report.get("n_interactions", 0))), "examples": ""}]
    for reason, info in (report.get("dropped") or {}).items():
        info = info if isinstance(info, dict) else {"count": info}
        examples = info.get("examples", [])
        rows.append({"reason": str(reason), "rows": int(info.get("count", 0)),
                     "examples": ", ".join(str(e) for e in examples)[:200]})
    return pd.DataFrame(rows)


def report_summary(report: dict) -> pd.DataFrame:
    """The scalar entries of a validation report as a two-column table."""
    keep = ("format", "rows_read", "rows_kept", "n_interactions", "n_users", "n_items", "n_cold_items", "density",
            "median_events_per_user", "first_event", "last_event", "rating_kind", "n_items_with_text",
            "n_items_with_categories")
    return pd.DataFrame([{"field": k, "value": str(report[k])} for k in keep if k in report])
