"""Recsys Studio backend: data, models, training, evaluation and serving. Never imports Streamlit."""
