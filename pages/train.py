"""Train page: model settings, a background training job with live progress, and the run history."""

from functools import partial

import pandas as pd
import streamlit as st

from recsys.config import USER_CELLS, TrainConfig
from recsys.serving import default_alpha
from ui.bundle_panel import bundle_panel
from ui.job_panel import show_job
from ui.resources import device_line, run_store
from ui.session import ACTIVE_DATASET, TRAIN_JOB, active_dataset, active_run, set_active_run, start_training, \
    sync_finished_training
from ui.text import md_escape
from ui.widgets import persisted

st.title("Train")
dataset = active_dataset()
st.text(f"Dataset: {ACTIVE_DATASET.get()} — {len(dataset.events):,} events, "
        f"{dataset.n_users:,} users, {dataset.n_items:,} items")
st.caption(f"Device — {device_line()}")

defaults = TrainConfig()
SETTINGS = (  # key, label, default, min, step, help
    ("dim", "Embedding dim", defaults.dim, 1, 8, "Size of every user and item vector."),
    ("lstm_units", "LSTM units", defaults.lstm_units, 1, 8, "Width of the sequence (user history) model."),
    ("cnn_filters", "CNN filters", defaults.cnn_filters, 1, 8, "Filters of the item text CNN."),
    ("kernel_size", "CNN kernel size", defaults.kernel_size, 1, 1, "Words per CNN window."),
    ("seq_len", "Sequence length", defaults.seq_len, 1, 5, "Recent events the LSTM reads."),
    ("epochs", "Epochs", defaults.epochs, 1, 1, "Upper bound; early stopping on validation NDCG@10."),
    ("batch_size", "Batch size", defaults.batch_size, 1, 32, "Training windows per step."),
    ("seed", "Seed", defaults.seed, 0, 1, "Seeds every random step: the same seed gives the same run."),
)

# Settings are kept per dataset: they never silently carry over to another, and come back with it.
setting = partial(persisted, scope=dataset.fingerprint())

with st.container(border=True):
    st.markdown("**Blend weight α** (share of the collaborative part; the rest is the content/sequence part)")
    left, right = st.columns([3, 1])
    auto = setting(right.checkbox, "alpha_auto", True, label="auto (best on validation)")
    alpha = setting(left.slider, "alpha", 0.5, label="α", min_value=0.0, max_value=1.0, step=0.05, disabled=auto)
    cols = st.columns(4)
    values = {}
    for i, (key, label, default, minimum, step, help_text) in enumerate(SETTINGS):
        values[key] = setting(cols[i % 4].number_input, key, int(default), label=label, min_value=minimum,
                                step=step, help=help_text)
    values["lr"] = setting(cols[0].number_input, "lr", float(defaults.lr), label="Learning rate", min_value=1e-5,
                             max_value=1.0, step=1e-4, format="%.4f")
    budget_min = setting(cols[1].number_input, "time_budget_min", 0.0, label="Time budget (minutes)",
                           min_value=0.0, step=1.0, format="%.1f",
                           help="0 = none. Training stops at the best epoch reached within the budget.")
    user_cell = setting(cols[3].selectbox, "user_cell", defaults.user_cell, label="User model", options=USER_CELLS,
                        format_func=str.upper, help="The recurrent cell that reads the user's recent items.")
    refit = setting(cols[2].checkbox, "refit", False, label="Refit on all events",
                      help="After the test evaluation, train again on every event for the best epoch count and "
                           "serve that model (for export). Takes about as long again.")

with st.container(border=True):
    st.markdown("**Ratings**")
    if dataset.has_ratings:
        ratings = dataset.events["rating"]
        first, second, third = st.columns(3)
        use_min = setting(first.checkbox, "use_min_rating", False,
                            label="Drop low ratings before training",
                            help="Off: every event counts as a positive, a 1-star rating too (as the CLI without "
                                 "--min-rating).")
        min_rating = setting(second.number_input, "min_rating", float(max(ratings.min(), min(4.0, ratings.max()))),
                               label="Minimum rating kept", min_value=float(ratings.min()),
                               max_value=float(ratings.max()), step=0.5, disabled=not use_min)
        kept = float((ratings >= min_rating).mean()) if use_min else 1.0
        st.caption(f"Ratings {ratings.min():g}–{ratings.max():g} (median {ratings.median():g}). "
                   + (f"{kept:.0%} of the events are kept." if use_min else
                      "Every rated event counts as a positive."))
        weights = setting(third.checkbox, "rating_weights", False, label="Weight training targets by their rating")
    else:
        use_min, min_rating, weights = False, None, False
        st.caption("This dataset has no rating column: every event counts as a positive.")

try:
    config = TrainConfig(alpha=None if auto else float(alpha), **{k: int(v) for k, v in values.items() if k != "lr"},
                         lr=float(values["lr"]), min_rating=float(min_rating) if use_min else None,
                         rating_weights=bool(weights), time_budget_s=float(budget_min) * 60 or None,
                         refit=bool(refit), user_cell=user_cell)
except ValueError as error:
    st.error(md_escape(str(error)))
    config = None

if st.button("Train", key="train", type="primary", disabled=config is None):
    if start_training(dataset, config).status == "done":
        st.success("This data + configuration was trained before: the stored run is active now (no retraining).")
    else:
        st.toast("Training started; it keeps running while you visit other pages.")


def training_finished(job) -> None:
    sync_finished_training()
    st.success(f"Training finished: run {job.key[:10]} is the active run.")


job = show_job(TRAIN_JOB, cancel_key="cancel", on_done=training_finished)

# ------------------------------------------------------------------ run history
st.subheader("Runs")
runs = run_store().list_runs()
show_all = st.toggle("Show runs of all datasets", key="all_runs")
fingerprint = dataset.fingerprint()
shown = [r for r in runs if show_all or r.get("fingerprint") == fingerprint]
if not shown:
    st.info("No stored runs for this dataset yet: press Train.")
else:
    table = pd.DataFrame(shown).drop(columns=["fingerprint"], errors="ignore")
    st.dataframe(table, hide_index=True, key="runs_table")
    ids = [r["run_id"] for r in shown]
    current = active_run()
    index = ids.index(current.run_id) if current is not None and current.run_id in ids else 0
    left, right = st.columns([3, 1])
    choice = left.selectbox("Run", ids, index=index, key="run_choice",
                            format_func=lambda rid: f"{rid[:10]} — {next(r['completed_at'] for r in shown if r['run_id'] == rid)[:19]}")
    if right.button("Make active", key="use_run"):
        set_active_run(str(run_store().path_for(choice)))
        st.rerun()

run = active_run()
if run is not None:
    st.subheader("Active run")
    st.text(f"{run.run_id} — dataset {run.fingerprint.get('dataset')} — default α {default_alpha(run):.2f}")
    if run.history and (job is None or job.run_path is None or run.run_id != job.key):
        from recsys.plots import training_curves

        st.plotly_chart(training_curves(run.history), key="active_run_curves")
    model_path = run.path / "model.keras"
    if model_path.is_file():
        st.download_button("Download model (model.keras)", model_path.read_bytes, file_name=f"{run.run_id}.keras",
                           mime="application/octet-stream", key="download_model", on_click="ignore")

bundle_panel()
