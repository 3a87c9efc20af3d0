"""Widgets whose values survive page switches: `persisted(widget, key, default, ...)`.

Streamlit forgets a page's widget values when the user visits another page. `persisted` keeps each
value under a shadow key of the session and restores it before the widget is drawn again.

Example:
    >>> top_n = persisted(st.number_input, "top_n", 10, label="Top-N", min_value=1, max_value=100)
    >>> dim = persisted(cols[0].number_input, "dim", 128, label="Embedding dim", scope=dataset.fingerprint())
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

__all__ = ["forget", "persisted"]

_SHADOW = "_kept:"


def _shadow(key: str, scope: str | None) -> str:
    return f"{_SHADOW}{scope}:{key}" if scope else _SHADOW + key


def persisted(widget: Callable, key: str, default, *, scope: str | None = None,
              valid: Callable[[object], bool] | None = None, **kwargs):
    """Draws `widget(key=key, **kwargs)` with its value kept across page switches; returns the widget's value.

    Give the widget's arguments by keyword (`label=`, `options=` …) and no `value=`/`index=`: the
    value comes from the session, or `default` the first time.

    Args:
        widget: a Streamlit widget function, e.g. `st.selectbox` or a column's `cols[0].slider`.
        key: the widget key (tests drive the widget by it).
        default: the value before the user chose one (and after `forget`).
        scope: keep values per scope (e.g. the dataset's fingerprint), so settings chosen for one
            dataset never carry over to another and come back with it.
        valid: whether a kept value still fits (default: it is one of `options=`, when given); a value
            that does not starts again from `default`.
    """
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(_shadow(key, scope), default)
    if valid is None and "options" in kwargs:
        options = kwargs["options"]
        valid = lambda value: value in options  # noqa: E731
    if valid is not None and not valid(st.session_state[key]):
        st.session_state[key] = default
    value = widget(key=key, **kwargs)
    st.session_state[_shadow(key, scope)] = st.session_state.get(key)
    return value


def forget(key: str, *, scope: str | None = None) -> None:
    """Drops a widget's current and kept value: it shows its default the next time it is drawn."""
    st.session_state.pop(key, None)
    st.session_state.pop(_shadow(key, scope), None)
