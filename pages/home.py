"""Home page: what the studio is and where to start."""

import streamlit as st

from ui.session import active_run

st.title("Recsys Studio")
st.write(
    "Build, train and understand a hybrid recommender: collaborative filtering, a sequence model "
    "of each user's history and a content model of item text, blended at serving time."
)
st.markdown(
    "The built-in **demo data** is loaded already, so every page works without an upload.\n\n"
    "1. **Data** — upload interactions (and optionally item metadata), check the validation report.\n"
    "2. **Train** — pick model sizes and train in the background; progress stays while you browse.\n"
    "3. **Embeddings** — maps of the learned item and user vectors.\n"
    "4. **Recommendations** — a user's history and top-N, with an instant α slider and cold start.\n"
    "5. **Evaluate** — the model against popularity, item-kNN and EASE on a temporal split."
)
for path, label in (("pages/data.py", "Data"), ("pages/train.py", "Train"), ("pages/embeddings.py", "Embeddings"),
                    ("pages/recommendations.py", "Recommendations"), ("pages/evaluate.py", "Evaluate")):
    st.page_link(path, label=label)

if active_run() is None:
    st.info("No trained model in this session yet, so Embeddings and Recommendations are empty.\n\n"
            "Next: open **Train** and press Train (the demo data is loaded; 1 epoch takes about a minute), "
            "or load your own file on **Data** first.")
