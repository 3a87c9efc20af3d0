"""The Train page's share panel: download the active run as a bundle, import a bundle as the active run."""

from __future__ import annotations

from functools import partial

import streamlit as st

from recsys.bundle import BundleError, bundle_bytes, import_bundle
from recsys.store import RunStoreError
from ui.resources import load_run_cached, run_store
from ui.session import BUNDLE_IMPORT_FILE, BUNDLE_IMPORT_OUTCOME, active_run, datasets, set_active_run
from ui.text import md_escape

__all__ = ["bundle_panel"]


def _import_upload(upload) -> None:
    """Imports an uploaded bundle once per file (reruns keep the outcome) and makes its run active."""
    if BUNDLE_IMPORT_FILE.get() == upload.file_id:
        return
    BUNDLE_IMPORT_FILE.set(upload.file_id)
    try:
        with st.spinner("Checking and installing the bundle…"):
            path, added = import_bundle(upload, store=run_store())
    except (BundleError, RunStoreError) as error:
        BUNDLE_IMPORT_OUTCOME.set(("error", f"{upload.name}: {error}"))
        return
    set_active_run(str(path))
    what = "imported and is the active run now" if added else "was already in the run store; it is the active run now"
    message = f"Run {path.name[:10]} {what}."
    fingerprint = load_run_cached(str(path)).fingerprint.get("fingerprint")
    if not any(d.fingerprint() == fingerprint for d in datasets().values()):
        message += (" Its dataset is not loaded in this session: recommendations, embeddings and the stored test "
                    "report work from the bundle; to train on that data again, or to list the run under its dataset, "
                    "load the data on the Data page.")
    BUNDLE_IMPORT_OUTCOME.set(("success", message))
    st.rerun()  # redraw the whole page (its run table and active-run section) with the imported run


def bundle_panel() -> None:
    """'Download run bundle' for the active run and 'Import a run bundle' (the imported run becomes active)."""
    st.subheader("Share a run")
    run = active_run()
    left, right = st.columns(2)
    with left:
        if run is None:
            st.caption("Train or pick a run to download it as a bundle.")
        else:
            st.download_button("Download run bundle", partial(bundle_bytes, str(run.path)),
                               file_name=f"run-{run.run_id[:10]}.zip", mime="application/zip", key="download_bundle",
                               on_click="ignore", help="One zip with the model, vectors, id maps, metrics and a "
                                                       "sha256 manifest; import it in another studio.")
    with right:
        upload = st.file_uploader("Import a run bundle", type=["zip"], key="bundle_upload",
                                  help="A zip from 'Download run bundle' or `python -m recsys export-run`. Every file "
                                       "is checked against the manifest before the run is stored.")
        if upload is None:
            BUNDLE_IMPORT_FILE.pop()
        else:
            _import_upload(upload)
        outcome = BUNDLE_IMPORT_OUTCOME.get() if upload is not None else None
        if outcome is not None:
            kind, message = outcome
            (st.error if kind == "error" else st.success)(md_escape(message))
