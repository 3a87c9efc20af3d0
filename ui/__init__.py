"""Streamlit glue for Recsys Studio: everything a page needs besides layout and widgets.

Pages stay declarative: they lay out widgets and call `recsys/` functions; anything that must outlive
a rerun or a page switch lives here.

- `ui.session`: one typed accessor for every key of `st.session_state` (datasets, the active run, α, jobs).
- `ui.widgets`: `persisted(widget, key, default, ...)`, widget values kept across page switches (per dataset).
- `ui.resources`: every Streamlit cache: the run store and the job registry (one per server process),
  loaded runs and models, cached scores, vectors, projections and figures.
- `ui.job_panel`: the live progress panel of a background job (the Train page's training).
- `ui.bundle_panel`: download the active run as a bundle, import one.
- `ui.views`: display frames and labels; `ui.data_io`: the Data page's upload glue; `ui.text`: `md_escape`.
"""
