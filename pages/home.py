"""Home page: what the studio is and where to start."""

import streamlit as st

st.title("Recsys Studio")
st.write(
    "Build, train and understand a hybrid recommender: collaborative filtering, a sequence model "
    "of each user's history and a content model of item text, blended at serving time."
)
