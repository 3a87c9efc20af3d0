"""Evaluate page: the active run's test report — the model against popularity, item-kNN and EASE on its
temporal split, and the α sweep. A run carries this report from training, so nothing is trained here."""

import pandas as pd
import streamlit as st

from recsys import plots
from recsys.evaluation import metrics_table, segments
from ui.session import SERVING_ALPHA, datasets, require_active_run
from ui.text import md_escape
from ui.widgets import persisted

st.title("Evaluate")
run = require_active_run("train one on the Train page. Its test report is computed while it trains.")

result = run.metrics.get("evaluation")
if not result:
    reason = ("it was trained before runs carried their test report, or from Parquet shards (`train --shards`), "
              "which train without one" if "evaluation" not in run.metrics else
              "no user in its data has 3 or more distinct items, so there is no test split")
    st.info(f"Run {run.run_id[:10]} has no test report: {reason}.")
    st.markdown("Train it again on the **Train** page (same settings): the new run is evaluated while it trains, "
                "and this page shows its report at once.")
    if not any(d.fingerprint() == run.fingerprint.get("fingerprint") for d in datasets().values()):
        st.warning("This run's dataset is not loaded in this session (an imported run?): load it on the Data page first.")
    st.page_link("pages/train.py", label="Go to Train")
    st.stop()

k = int(result.get("k", 10))
split = result.get("split", {})
st.markdown(
    "Protocol: temporal leave-last-out. For every user the last new item is the test target and the one before "
    "it the validation target; every item is ranked (full ranking) with the user's earlier items excluded. "
    "The run was trained on the training part, stopped early and had its α chosen on validation; the baselines "
    "were tuned on validation and refitted on the history before each test event."
)
config = run.train_config()
st.text(f"Run {run.run_id[:10]}: {split.get('n_test_users', '?'):,} test users, {split.get('n_items', '?'):,} items, "
        f"{split.get('n_train_events', '?'):,} training events. Settings: dim {config.dim}, LSTM {config.lstm_units}, "
        f"CNN {config.cnn_filters}×{config.kernel_size}, seq {config.seq_len}, epochs {config.epochs}, "
        f"batch {config.batch_size}")
validation = result.get("validation", {})
if validation.get("stopped_by"):
    ran = validation.get("epochs_run", "?")
    st.caption(f"Training ran {ran} epoch{'' if ran == 1 else 's'} and kept epoch {validation.get('best_epoch')} "
               f"(ended by {md_escape(validation['stopped_by'])}).")
if run.metrics.get("refit"):
    st.caption("The served model was refitted on every event after this evaluation; the report is the first fit's.")

table = metrics_table(result, k=k)
st.subheader("Test metrics")
st.dataframe(table, hide_index=True, key="metrics_table",
             column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns
                            if c not in ("method", "n_users")})
bars = table.drop(columns=["n_users"]).rename(columns={"method": "model"})
st.plotly_chart(plots.metrics_bar(bars), key="metrics_bar")

st.subheader("α sweep (test split)")
sweep = pd.DataFrame(result["alpha_sweep"])[["alpha", f"NDCG@{k}", f"coverage@{k}"]]
best = float(result["alpha"])
st.plotly_chart(plots.alpha_sweep_chart(sweep, best, split="test"), key="alpha_sweep")
st.caption(f"α chosen on validation: {best:.2f} (marked). α = 1 is the CF part alone, α = 0 the content/sequence "
           "part alone.")
if st.button(f"Apply best α ({best:.2f})", key="apply_alpha"):
    SERVING_ALPHA.set(best)
    st.success(f"The Recommendations page now blends with α = {best:.2f}.")

# ------------------------------------------------------------------ per segment
st.subheader("By segment: for whom does the model help?")
report = result.get("segments")
if not report:
    st.info("This run's test report has no per-segment breakdown (it was trained before segments were added): "
            "train it again on the Train page to get one.")
else:
    defs = report["definitions"]
    head = defs["popularity"]
    st.caption(
        f"Users by their number of training events ({', '.join(defs['activity']['labels'])}); test items by "
        f"popularity (head = the {head['n_head_items']:,} most-interacted items, holding the top "
        f"{head['head_share']:.0%} of training events, each with at least {head['head_min_events']:,}; tail = the "
        f"rest) and by whether they have text. Intervals: 95% bootstrap over the segment's users "
        f"({report['n_boot']:,} resamples, seed {report['seed']}).")
    table = segments.segment_display_table(report)
    view = persisted(st.selectbox, "segment_view", "all", label="Segments",
                     options=["all", *pd.unique(table["segmentation"])])
    shown = table if view == "all" else table[table["segmentation"] == view]
    st.dataframe(shown, hide_index=True, key="segments_table",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in (f"NDCG@{k}", f"HR@{k}")})
    st.markdown("**The model against the best baseline of each segment** (paired bootstrap: the same resampled "
                "users for both)")
    comparison = segments.comparison_display_table(report)
    st.dataframe(comparison, hide_index=True, key="segments_comparison",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in comparison.columns
                                if c not in ("segmentation", "segment", "users", "best baseline", "95% interval")})
    st.plotly_chart(plots.segment_alpha_curves(pd.DataFrame(report["alpha_sweep"]), report.get("alpha_by_segment"),
                                               metric=f"NDCG@{k}"), key="segment_alpha_curves")
    by_segment = report.get("alpha_by_segment") or {}
    if by_segment:
        st.caption("Stars: the α chosen on validation for each activity segment ("
                   + ", ".join(f"{name} → {value:.2f}" for name, value in by_segment.items())
                   + "). Turn on “α by segment” on the Recommendations page to serve with them.")
