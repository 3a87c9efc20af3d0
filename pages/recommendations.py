"""Recommendations page: a user's history and top-N with the score split, instant α, similar items, cold start."""

from functools import partial

import pandas as pd
import streamlit as st

from recsys import plots, serving
from recsys.evaluation import segments
from ui.resources import cold_start_scorer, component_rows, explainer, recommendations_csv
from ui.session import COLD_PICKED, SERVING_ALPHA, WHY_CLICKED, recommendations_run, require_active_run, \
    serving_alpha
from ui.text import md_escape
from ui.views import NO_TEXT_NOTE, find_items, format_time, has_item_text, item_label, overlap, ranked_table, \
    score_column_config
from ui.widgets import persisted

MAX_PICKS = 50
RECENT = 20

st.title("Recommendations")
run = require_active_run("train one on the Train page (1 epoch on the demo data takes about a minute), "
                         "then come back here for each user's top-N, similar items and cold start.")
run_path = str(run.path)
st.text(f"Run {run.run_id[:10]} — dataset {run.fingerprint.get('dataset')} — {run.n_users:,} users, "
        f"{run.n_items:,} items")

recommendations_run(run.run_id)  # item indices mean other items in another run: per-run picks start afresh


def _sync_alpha():
    SERVING_ALPHA.set(float(st.session_state["rec_alpha"]))


# ------------------------------------------------------------------ user, history, top-N
user_ids = [str(u) for u in run.user_ids]
left, middle, right = st.columns([2, 2, 1])
user_id = persisted(left.selectbox, "rec_user", user_ids[0], label="User (original id; type to search)",
                    options=user_ids)
if st.session_state.get("rec_alpha") != serving_alpha():
    st.session_state["rec_alpha"] = serving_alpha()
alpha = middle.slider("α (weight of the collaborative part)", 0.0, 1.0, step=0.05, key="rec_alpha",
                      on_change=_sync_alpha, help="Re-ranks at once from the stored component scores.")
top_n = int(persisted(right.number_input, "top_n", 10, label="Top-N", min_value=1, max_value=100, step=1))
user = user_ids.index(user_id)
segment_alphas = segments.run_alpha_by_segment(run)
by_segment = st.toggle("α by segment", key="rec_alpha_by_segment", disabled=segment_alphas is None,
                       help="Blend with the α chosen on validation for the user's activity segment (number of "
                            "events: < 5, 5–20, > 20) instead of the slider's." if segment_alphas else
                            "This run stores no per-segment α (its test report has no segment breakdown).")
if by_segment and segment_alphas:
    alpha = segments.user_alpha(run, user, default=alpha)
    st.caption(f"α by segment: {alpha:.2f} for users with {segments.user_segment(run, user)} events "
               "(chosen on validation; per segment: "
               + ", ".join(f"{name} → {value:.2f}" for name, value in segment_alphas.items()) + ")")

cf_row, content_row, seen = component_rows(run_path, user)
history = serving.user_history(run, user)
left, right = st.columns([2, 3])
with left:
    st.subheader("Recent history")
    recent = history.tail(RECENT).iloc[::-1]  # newest first
    st.dataframe(recent.assign(time=format_time(recent["timestamp"]).to_numpy())[["time", "title", "item_id"]],
                 hide_index=True, key="history_table")
    st.caption(f"{len(history)} events in total; the last {min(RECENT, len(history))}, newest first.")
with right:
    st.subheader(f"Top {top_n} at α = {alpha:.2f}")
    table = ranked_table(run, cf_row, content_row, seen, alpha=alpha, k=top_n)
    clicked = st.dataframe(table.drop(columns=["item"]), hide_index=True, key="top_table",
                           column_config=score_column_config(), on_select="rerun", selection_mode="single-row")
    st.caption("score = α·cf_score + (1−α)·content_score — the same columns as the new-user table and the CSV.")

# ------------------------------------------------------------------ why this item?
st.subheader("Why this item?")
why_options = [None, *table["item"].astype(int).tolist()]
clicked_rows = clicked.selection.rows if clicked is not None else []
if clicked_rows:
    clicked_item = int(table["item"].iat[clicked_rows[0]])
    if WHY_CLICKED.get() != (user, clicked_item):  # a new click picks the item below
        WHY_CLICKED.set((user, clicked_item))
        st.session_state["why_item"] = clicked_item
if st.session_state.get("why_item") not in why_options:
    st.session_state["why_item"] = None
why_item = st.selectbox("Explain", why_options, key="why_item",
                        format_func=lambda i: "(click a row of the list above, or pick an item)" if i is None
                        else item_label(run, i))
if why_item is not None:
    why = explainer(run_path).explain(user, int(why_item), alpha=alpha)
    c1, c2, c3 = st.columns(3)
    c1.metric("Score", f"{why.score:.3f}")
    c2.metric("CF part", f"{why.cf_score:.3f}")
    c3.metric("Content part", f"{why.content_score:.3f}")
    left, right = st.columns([3, 2])
    left.plotly_chart(plots.explanation_bars(why.history, alpha=alpha), key="why_bars")
    with right:
        st.markdown("**The item's text, deciding words highlighted**")
        st.markdown(why.highlighted_markdown() if why.text.strip() else "_(this item has no text)_")
        st.dataframe(why.words[["text", "weight", "share"]], hide_index=True, key="why_words",
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("weight", "share")})
    st.text("\n".join(why.summary()))

# ------------------------------------------------------------------ two α values side by side
with st.expander("Compare two α values", expanded=False):
    c1, c2 = st.columns(2)
    alpha_a = persisted(c1.slider, "alpha_a", 0.0, label="α (left list)", min_value=0.0, max_value=1.0, step=0.05)
    alpha_b = persisted(c2.slider, "alpha_b", 1.0, label="α (right list)", min_value=0.0, max_value=1.0, step=0.05)
    list_a = ranked_table(run, cf_row, content_row, seen, alpha=alpha_a, k=top_n)
    list_b = ranked_table(run, cf_row, content_row, seen, alpha=alpha_b, k=top_n)
    common, length = overlap(list_a, list_b)
    st.metric("Overlap", f"{common} of {length}")
    c1.dataframe(list_a[["rank", "title", "score"]], hide_index=True, key="compare_a")
    c2.dataframe(list_b[["rank", "title", "score"]], hide_index=True, key="compare_b")

# ------------------------------------------------------------------ similar items
st.subheader("Similar items")
n_items = run.n_items
labels = [item_label(run, i) for i in range(n_items)]
text_ok = has_item_text(run)
left, right = st.columns([3, 1])
item = persisted(left.selectbox, "similar_item", int(table["item"].iat[0]) if len(table) else 0, label="Item",
                 options=range(n_items), format_func=lambda i: labels[i])
part = right.selectbox("By", ["content", "cf"] if text_ok else ["cf", "content"], key="similar_part",
                       format_func=lambda p: {"content": "content (text) vectors", "cf": "CF vectors"}[p])
if part == "content" and not text_ok:
    st.caption(NO_TEXT_NOTE + "content neighbours reflect co-occurrence in histories, not similar texts.")
similar = serving.similar_items(run, int(item), k=10, part=part)
st.dataframe(similar[["title", "item_id", "similarity"]], hide_index=True, key="similar_table")

# ------------------------------------------------------------------ cold start sandbox
st.subheader("Cold-start sandbox")
left, right = st.columns(2)
with left:
    st.markdown("**A new user** — add the items they had, oldest first")
    picked = COLD_PICKED.get()
    query = st.text_input("Find an item (title or id contains)", key="cold_find",
                          help="Literal, case-insensitive text; only the item you pick and add joins the list.")
    matches = find_items(run, query)
    if query.strip() and not matches:
        st.caption("No item matches: try part of a title or an item id.")
    add_left, add_right = st.columns([4, 1])
    choice = add_left.selectbox(f"{len(matches)} matching items" if query.strip() else "Matching items",
                                matches, index=None, format_func=lambda i: labels[i], key="cold_choice",
                                placeholder="Type above, then pick one item", label_visibility="collapsed")
    if add_right.button("Add", key="cold_add", disabled=choice is None or len(picked) >= MAX_PICKS):
        if int(choice) not in picked:
            picked.append(int(choice))
    if picked:
        st.dataframe(pd.DataFrame({"#": range(1, len(picked) + 1), "item": [labels[i] for i in picked]}),
                     hide_index=True, key="cold_picked_table")
        b1, b2 = st.columns(2)
        if b1.button("Remove last", key="cold_remove_last"):
            picked.pop()
            st.rerun()
        if b2.button("Clear", key="cold_clear"):
            picked.clear()
            st.rerun()
    if picked:
        try:
            new_user = cold_start_scorer(run_path).recommend_for_new_user(list(picked), k=top_n, alpha=alpha)
            st.dataframe(new_user[["title", "item_id", "score", "cf_score", "content_score"]], hide_index=True,
                         key="cold_user_table", column_config=score_column_config())
        except ValueError as error:
            st.warning(md_escape(str(error)))
    else:
        st.caption(f"No items yet: find one above and press Add (up to {MAX_PICKS}); "
                   "the new user's top-N appears here.")
with right:
    st.markdown("**A new item** — describe it; which users would it reach?")
    if not text_ok:
        st.warning(NO_TEXT_NOTE + "the text model has no vocabulary, so a description matches nothing. "
                   "Load item metadata with titles or descriptions on the Data page and train again.")
    text = st.text_area("Description", key="new_item_text", placeholder="e.g. a cozy mystery set in a lighthouse")
    if text.strip():
        try:
            reached = cold_start_scorer(run_path).users_for_new_item(text, k=20)
            st.dataframe(reached[["user_id", "content_score"]], hide_index=True, key="cold_item_table")
        except ValueError as error:
            st.warning(md_escape(str(error)))
    else:
        st.caption("Write a few words about the item; the 20 users whose histories match it best appear here.")

# ------------------------------------------------------------------ download
st.download_button(f"Download top-{top_n} of every user (CSV, α = {alpha:.2f})",
                   partial(recommendations_csv, run_path, float(alpha), top_n),
                   file_name=f"recommendations-{run.run_id[:10]}.csv", mime="text/csv", key="download_recs",
                   on_click="ignore", help="Scores every user of the run when clicked; cached per run, α and N. "
                                           "Columns: score = α·cf_score + (1−α)·content_score.")
