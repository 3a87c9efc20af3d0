"""Embeddings page: 2-D maps of the learned item and user vectors, search, neighbours and a user overlay."""

from functools import partial

import streamlit as st

from recsys import plots, projection, selection, serving
from ui.resources import VECTOR_KINDS, embeddings_download, item_categories, pca_coords, start_umap_warm_up, \
    umap_cached, umap_compute, vectors_of
from ui.session import require_active_run, serving_alpha
from ui.views import NO_TEXT_NOTE, embedding_frame, has_item_text, item_label, pca_axis_titles
from ui.widgets import persisted

ALL_CATEGORIES = "(top 10 + other)"
MAX_CLUSTERS = 24  # the map has 24 distinct colours for clusters

st.title("Embeddings")
run = require_active_run("train one on the Train page (1 epoch on the demo data takes about a minute), "
                         "then come back here for maps of its item and user vectors.")
run_path = str(run.path)

kinds = list(VECTOR_KINDS)
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
kind = persisted(c1.selectbox, "emb_kind", kinds[0], label="Vectors", options=kinds)
side = VECTOR_KINDS[kind][0]
colours = ["category", "popularity", "cluster"] if side == "items" else ["popularity", "cluster"]
color = persisted(c2.selectbox, "emb_color", colours[0], label="Colour by", options=colours)
n_clusters = int(persisted(c3.number_input, "emb_clusters", 8, valid=lambda n: 2 <= int(n) <= MAX_CLUSTERS,
                           label="Clusters", min_value=2, max_value=MAX_CLUSTERS, step=1, disabled=color != "cluster"))
method = persisted(c4.selectbox, "emb_projection", "PCA", label="Projection", options=["PCA", "UMAP"])

focus = None
if side == "items" and color == "category":
    options = [ALL_CATEGORIES, *item_categories(run_path)]
    picked = persisted(st.selectbox, "emb_category", ALL_CATEGORIES, label="Category", options=options,
                       help="The 10 most common categories get their own colour; an item with several "
                            "takes its most specific one. Pick one category to see every item that has it.")
    focus = None if picked == ALL_CATEGORIES else picked
    if len(options) == 1:
        st.caption("No item of this dataset has a category: colour by popularity or cluster instead.")

if kind.startswith("Content") and not has_item_text(run):
    st.warning(NO_TEXT_NOTE + "this map shows no text similarity. Load an item metadata file with titles or "
               "descriptions on the Data page and train again.")

coords, explained = pca_coords(run_path, kind)
shown = "PCA"
axis_titles = pca_axis_titles(explained)
if method == "UMAP":
    reason = projection.umap_fallback_reason(len(coords))
    umap = None if reason else umap_cached(run_path, kind)
    if reason:
        st.info(reason)
    elif umap is None:
        start_umap_warm_up(len(coords) > projection.EXACT_KNN_MAX)  # compile UMAP while the user reads this
        prompt = st.container()
        prompt.caption("UMAP takes a few seconds; it is computed once per run and vector kind, then cached. "
                       "Showing PCA until then.")
        if prompt.button("Compute UMAP", key="compute_umap"):
            with st.spinner("Running UMAP…"):
                umap_compute(run_path, kind)
            st.rerun()  # redraw without the prompt: the map below is UMAP now
    if umap is not None:
        coords, shown, axis_titles = umap, "UMAP", ("UMAP 1", "UMAP 2")

frame, order = embedding_frame(run, run_path, kind, coords, color=color, n_clusters=n_clusters, category=focus)
colour_column = {"category": "category", "popularity": "popularity (log10 events)", "cluster": "cluster"}[color]
highlight = {}

# ------------------------------------------------------------------ search and user overlay (item maps)
if side == "items":
    left, right = st.columns(2)
    query = left.text_input("Search an item by title or id", key="emb_search")
    if query.strip():
        needle = query.strip().lower()
        matches = frame.index[frame["title"].str.lower().str.contains(needle, regex=False)
                              | frame["item_id"].astype(str).str.lower().str.contains(needle, regex=False)].tolist()
        if matches:
            found = left.selectbox(f"{len(matches)} matching item{'s' if len(matches) != 1 else ''}", matches[:200],
                                   key="emb_found", format_func=lambda i: item_label(run, i))
            neighbours, _ = projection.nearest_neighbors(vectors_of(run_path, kind), int(found), k=10)
            highlight["Searched item"] = [int(found)]
            highlight["Nearest neighbours"] = [int(i) for i in neighbours]
        else:
            left.caption("No item matches: try part of a title or an item id.")
    user_ids = ["(none)"] + [str(u) for u in run.user_ids]
    overlay = right.selectbox("Overlay a user's recent events and recommendations", user_ids, key="emb_user")
    if overlay != "(none)":
        last_n = int(persisted(right.number_input, "emb_last_n", 20, label="Last N events", min_value=1,
                               max_value=500, step=5))
        user = user_ids.index(overlay) - 1
        events = serving.user_history(run, user)
        recent = events.tail(last_n)["item"].astype(int)
        history = recent.iloc[::-1].drop_duplicates().tolist()  # newest first, each item once
        right.caption(f"Showing the last {len(recent)} of {len(events)} events ({len(history)} distinct items).")
        recs = serving.recommend(run, [user], k=10, alpha=serving_alpha())["item"].astype(int).tolist()
        highlight["Recent events"] = history
        highlight["Recommended"] = recs

hover = ["item_id", "events", "categories"] if side == "items" else ["events"]
figure = plots.embedding_map(frame, x="x", y="y", color=colour_column, hover_name="title", hover_data=hover,
                             highlight=highlight, title=f"{kind} — {shown}", axis_titles=axis_titles,
                             category_order=order)
figure.update_layout(dragmode="lasso")  # draw a lasso (or pick the box tool) to list what is inside
picked = st.plotly_chart(figure, key="embedding_map", height=650, on_select="rerun", selection_mode=("box", "lasso"))

# ------------------------------------------------------------------ what the box or lasso holds
points = picked.selection.points if picked is not None else []
rows = selection.selection_rows(points, frame, id_column="item_id" if side == "items" else "title",
                                id_field="customdata" if side == "items" else "hovertext")
if not rows:
    st.caption("Draw a lasso or a box on the map (tools at its top right) to list the "
               f"{'items' if side == 'items' else 'users'} inside it.")
elif side == "items":
    st.subheader("Selected items")
    mix = selection.category_mix(run, rows)
    st.text(f"{len(rows)} item{'s' if len(rows) != 1 else ''} selected; "
            f"{len(mix)} categor{'ies' if len(mix) != 1 else 'y'}")
    left, right = st.columns([3, 2])
    left.dataframe(selection.items_table(run, rows).drop(columns=["item"]), hide_index=True, key="selected_items")
    with right:
        st.markdown("**Category mix**")
        st.table(mix.assign(share=mix["share"].map("{:.0%}".format)))
    st.markdown("**Users for whom these items rank highest** (among the items they have not had)")
    st.dataframe(selection.users_for_items(run, rows, alpha=serving_alpha()), hide_index=True,
                 key="selected_items_users")
else:
    st.subheader("Selected users")
    st.text(f"{len(rows)} user{'s' if len(rows) != 1 else ''} selected; their most common items:")
    st.dataframe(selection.users_common_items(run, rows), hide_index=True, key="selected_users_items",
                 column_config={"share": st.column_config.NumberColumn(format="percent")})

fmt = st.radio("Download format", ["CSV", "Parquet"], horizontal=True, key="emb_format")
st.download_button(f"Download {kind} with ids ({fmt})", partial(embeddings_download, run_path, kind, fmt),
                   file_name=f"{VECTOR_KINDS[kind][1]}-{run.run_id[:10]}.{'csv' if fmt == 'CSV' else 'parquet'}",
                   mime="text/csv" if fmt == "CSV" else "application/octet-stream", key="download_embeddings", on_click="ignore")
