"""Streamlit glue for Recsys Studio: session-state helpers and (later) caches and the job registry.

Pages stay declarative: they lay out widgets and call `recsys/` functions; anything that must outlive
a rerun or a page switch lives here.

- `ui.state`: session-state defaults (`get_state`, `set_default`).
- `ui.jobs` (next round): the training-job registry, one process-wide object held by
  `st.cache_resource`, wrapping the plain-Python backend in `recsys/jobs.py`. Pages only read a job's
  progress record and set its cancel flag; navigating away never stops or restarts a job.
"""
