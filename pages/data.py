"""Data page: upload interactions (and item metadata), map columns, load, read the validation report."""

import streamlit as st

from recsys.data import NO_ITEM_TEXT_WARNING, SUPPORTED_FORMATS_HELP, DataError
from ui.data_io import AUTO, ROLES, UPLOAD_LIMIT_MIB, dropped_table, load_upload, report_summary, upload_digest
from ui.resources import detect_columns, overview_figures
from ui.session import ACTIVE_DATASET, DATA_FLASH, DATA_LOAD_ERROR, DEMO_NAME, MAPPING_FOR, active_dataset, \
    add_dataset, datasets, ensure_demo, set_active_dataset
from ui.text import md_escape

st.title("Data")

# ------------------------------------------------------------------ choose among loaded datasets
active_dataset()  # loads the demo data on a first visit
names = list(datasets())


def _choose_dataset():
    set_active_dataset(st.session_state["dataset_choice"])


if st.session_state.get("dataset_choice") != ACTIVE_DATASET.get():
    st.session_state["dataset_choice"] = ACTIVE_DATASET.get()  # follow loads and the demo button
left, right = st.columns([3, 1])
left.selectbox("Active dataset", names, key="dataset_choice", on_change=_choose_dataset,
               help="Every dataset loaded in this session stays available here.")
if right.button("Use demo data", key="use_demo", help="The built-in synthetic catalogue with item texts."):
    ensure_demo()
    set_active_dataset(DEMO_NAME)
    st.rerun()

# ------------------------------------------------------------------ upload
def _forget_load_error():
    DATA_LOAD_ERROR.pop()


with st.expander("Upload your own data", expanded=ACTIVE_DATASET.get() == DEMO_NAME):
    st.caption(SUPPORTED_FORMATS_HELP)
    interactions = st.file_uploader("Interactions file", key="interactions", max_upload_size=UPLOAD_LIMIT_MIB,
                                    on_change=_forget_load_error,
                                    help="One row per event: user, item, optional rating and time.")
    items = st.file_uploader("Item metadata file (optional)", key="items", max_upload_size=UPLOAD_LIMIT_MIB,
                             on_change=_forget_load_error,
                             help="Titles, descriptions and categories; items without events become cold-start items.")
    if interactions is None:
        _forget_load_error()
    else:
        raw = interactions.getvalue()
        detected = detect_columns(raw, interactions.name)
        signature = upload_digest(raw)
        if MAPPING_FOR.get() != signature:  # a new file: pre-fill from detection
            MAPPING_FOR.set(signature)
            for role, argument, _ in ROLES:
                st.session_state[argument] = detected["roles"].get(role) or AUTO
        options = [AUTO, *detected["columns"]]
        cols = st.columns(4)
        mapping = {}
        for col, (role, argument, label) in zip(cols, ROLES):
            if st.session_state.get(argument) not in options:
                st.session_state[argument] = AUTO
            mapping[argument] = col.selectbox(label, options, key=argument)
        if st.button("Load", key="load", type="primary"):
            previous = ACTIVE_DATASET.get()
            try:
                with st.spinner("Reading and validating…"):
                    dataset = load_upload(interactions, items, mapping=mapping)
            except DataError as error:
                # Kept for this file only: choosing another file (or removing it) clears the message.
                DATA_LOAD_ERROR.set({"for": signature, "message": str(error)})
                ACTIVE_DATASET.set(previous)
            else:
                _forget_load_error()
                name = add_dataset(interactions.name, dataset)
                set_active_dataset(name)
                DATA_FLASH.set(name)
                st.rerun()
        failed = DATA_LOAD_ERROR.get()
        if failed and failed["for"] == signature:
            st.error(md_escape(failed["message"]))
            st.caption("The previously active dataset stays active.")

flash = DATA_FLASH.pop()
if flash:
    st.success("Loaded; this is now the active dataset:")
    st.text(flash)

# ------------------------------------------------------------------ report and charts of the active dataset
dataset = active_dataset()
report = dataset.report
st.subheader("Active dataset")
st.text(f"{ACTIVE_DATASET.get()}  —  fingerprint {dataset.fingerprint()[:12]}")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Events", f"{len(dataset.events):,}")
c2.metric("Users", f"{dataset.n_users:,}")
c3.metric("Items", f"{dataset.n_items:,}")
c4.metric("Items with text", f"{report.get('n_items_with_text', 0):,}")

st.markdown("**Validation report** — rows kept and dropped, with reasons")
left, right = st.columns(2)
left.dataframe(dropped_table(report), hide_index=True, key="report_dropped")
right.dataframe(report_summary(report), hide_index=True, key="report_summary")
warnings = list(report.get("warnings") or []) + list((report.get("metadata") or {}).get("warnings") or [])
if NO_ITEM_TEXT_WARNING in warnings:
    warnings.remove(NO_ITEM_TEXT_WARNING)
    st.warning("No item has text (titles, descriptions or categories). The content part of the model will learn "
               "from item ids alone, so the new-item scorer and the content maps cannot work from text.\n\n"
               "Upload an item metadata file with titles or descriptions next to the interactions, then Load again.")
if warnings:
    st.markdown("**Warnings**")
    for warning in warnings:
        st.text(f"⚠ {warning}")

per_user, long_tail, over_time = overview_figures(dataset, dataset.fingerprint())
left, right = st.columns(2)
left.plotly_chart(per_user, key="chart_per_user")
right.plotly_chart(long_tail, key="chart_long_tail")
st.plotly_chart(over_time, key="chart_over_time")
