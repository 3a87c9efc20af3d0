"""Tests for ui.state: defaults are created once per session and survive reruns."""

from streamlit.testing.v1 import AppTest


def _counter_script():
    import streamlit as st

    from ui.state import get_state, set_default

    calls = st.session_state.setdefault("factory_calls", [])
    history = get_state("history", lambda: calls.append(1) or [])
    history.append(len(history))
    set_default("alpha", 0.5)
    st.session_state["alpha_seen"] = st.session_state["alpha"]


def test_get_state_runs_factory_once_and_keeps_the_object():
    at = AppTest.from_function(_counter_script, default_timeout=30)
    at.run()
    at.run()
    at.run()
    assert not at.exception
    assert at.session_state["factory_calls"] == [1]
    assert at.session_state["history"] == [0, 1, 2]  # same list across three reruns


def test_set_default_keeps_an_existing_value():
    at = AppTest.from_function(_counter_script, default_timeout=30)
    at.session_state["alpha"] = 0.9
    at.run()
    assert not at.exception
    assert at.session_state["alpha_seen"] == 0.9
