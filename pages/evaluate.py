"""Evaluate page: the model against popularity, item-kNN and EASE on a temporal split, and the α sweep."""

import pandas as pd
import streamlit as st

from recsys import plots
from recsys.evaluate import metrics_table
from ui.jobs import job_registry, show_job
from ui.session import datasets, md_escape, require_active_run

st.title("Evaluate")
run = require_active_run("train one on the Train page. Evaluation uses its settings.")

dataset = next((d for d in datasets().values() if d.fingerprint() == run.fingerprint.get("fingerprint")), None)
if dataset is None:
    st.warning("The active run's dataset is not loaded in this session: load it on the Data page to evaluate.")
    st.stop()

config = run.train_config()
st.markdown(
    "Protocol: temporal leave-last-out. For every user the last new item is the test target and the one before "
    "it the validation target; every item is ranked (full ranking) with the user's earlier items excluded. "
    "The model is trained again on the training part with the active run's settings, so this takes as long as "
    "training; results are cached."
)
st.text(f"Run {run.run_id[:10]} settings: dim {config.dim}, LSTM {config.lstm_units}, CNN {config.cnn_filters}×"
        f"{config.kernel_size}, seq {config.seq_len}, epochs {config.epochs}, batch {config.batch_size}")

if st.button("Run evaluation", key="evaluate", type="primary"):
    job = job_registry().submit_evaluation(dataset, config, k=10)
    st.session_state["eval_job"] = job.key

previous = job_registry().get(st.session_state.get("eval_job") or "")
if previous is not None and (previous.config != config or previous.dataset_name != dataset.name):
    st.session_state.pop("eval_job")  # that evaluation belongs to another run: do not show it for this one
job = show_job("eval_job", cancel_key="cancel_eval")
if job is None or job.status != "done" or not job.result:
    if job is not None and job.status == "failed":
        st.error(md_escape(f"Evaluation failed: {job.error}"))
    elif job is not None and job.status == "cancelled":
        st.warning("Evaluation was cancelled.")
    st.stop()

result = job.result
k = int(result.get("k", 10))
table = metrics_table(result, k=k)
st.subheader("Test metrics")
st.dataframe(table, hide_index=True, key="metrics_table",
             column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns
                            if c not in ("method", "n_users")})
bars = table.drop(columns=["n_users"]).rename(columns={"method": "model"})
st.plotly_chart(plots.metrics_bar(bars), key="metrics_bar")

st.subheader("α sweep (test)")
sweep = pd.DataFrame(result["alpha_sweep"])[["alpha", f"NDCG@{k}", f"coverage@{k}"]]
best = float(result["alpha"])
st.plotly_chart(plots.alpha_sweep_chart(sweep, best), key="alpha_sweep")
st.caption(f"Best α on validation: {best:.2f} (marked). α = 1 is the CF part alone, α = 0 the content/sequence "
           "part alone.")
if st.button(f"Apply best α ({best:.2f})", key="apply_alpha"):
    st.session_state["serving_alpha"] = best
    st.success(f"The Recommendations page now blends with α = {best:.2f}.")
