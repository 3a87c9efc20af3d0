"""Recsys Studio entry point: page config, the session's status line and routing.

Run with `streamlit run app.py`. Pages are registered explicitly (with `st.navigation` the `pages/`
folder is not auto-discovered); each page is layout and widgets over `recsys/` functions.
"""

from pathlib import Path

import streamlit as st

from ui.data_io import apply_server_settings, upload_limit_style
from ui.session import ensure_demo, status_line, sync_finished_training

APP_DIR = Path(__file__).resolve().parent
# The icon ships with the app (an image is embedded in the page; a material icon is fetched online).
st.set_page_config(page_title="Recsys Studio", page_icon=str(APP_DIR / "assets" / "icon.png"), layout="wide")
# What must hold however the app is started, whatever config files Streamlit finds (see the docstring).
apply_server_settings()
st.html(upload_limit_style())  # every drop zone states the real limit (Streamlit's own text rounds it)

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:", url_path="embeddings"),
    st.Page("pages/recommendations.py", title="Recommendations", icon=":material/recommend:", url_path="recommendations"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/leaderboard:", url_path="evaluate"),
]

page = st.navigation(pages)
ensure_demo()
sync_finished_training()
status = st.sidebar.empty()
status_line(status)
page.run()
status_line(status)  # the page may have made a run active (Train, run table): the sidebar says so at once
