"""Session-state helpers: one place that knows the keys' defaults, so pages never check `in st.session_state`.

Keep parsed data, the chosen run and similar objects here rather than only in widgets: Streamlit drops
a page's widget state when the user navigates away.

Example:
    >>> dataset = get_state("dataset", lambda: None)
    >>> picked = get_state("picked_items", list)   # a fresh list per session, not a shared one
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

__all__ = ["get_state", "keep_widget", "remember_widget", "set_default"]

T = TypeVar("T")


def get_state(key: str, default_factory: Callable[[], T]) -> T:
    """Returns `st.session_state[key]`, first storing `default_factory()` when the key is absent.

    The factory runs at most once per session (not on every rerun), so it may build mutable
    defaults like `list` or `dict` safely.
    """
    if key not in st.session_state:
        st.session_state[key] = default_factory()
    return st.session_state[key]


def set_default(key: str, value) -> None:
    """Stores `value` under `key` only when the key is absent, e.g. to seed a widget's initial value
    (pass the same key as the widget's `key=` and do not also give the widget a `value=`)."""
    if key not in st.session_state:
        st.session_state[key] = value


_SHADOW = "_kept:"


def _shadow(key: str, scope: str | None) -> str:
    return f"{_SHADOW}{scope}:{key}" if scope else _SHADOW + key


def keep_widget(key: str, default, *, scope: str | None = None) -> None:
    """Seeds a widget's state from its last value in this session (or `default`) before it is drawn.

    Streamlit forgets a page's widget values when the user visits another page; call this before the
    widget (with the same `key=` and no `value=`) and `remember_widget(key)` after it, so settings
    survive page switches. With a `scope` (e.g. the dataset's fingerprint) values are kept per scope,
    so settings chosen for one dataset do not silently carry over to another.
    """
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(_shadow(key, scope), default)


def remember_widget(key: str, *, scope: str | None = None):
    """Stores the widget's current value under a shadow key that outlives the page; returns the value."""
    value = st.session_state.get(key)
    st.session_state[_shadow(key, scope)] = value
    return value
