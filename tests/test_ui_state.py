"""ui.session's typed session values and ui.widgets.persisted: state made once per session, widget values
kept across page switches (per scope), and kept values that no longer fit dropped."""

from streamlit.testing.v1 import AppTest


def _session_values_script():
    import streamlit as st

    from ui.session import SessionValue

    calls = st.session_state.setdefault("factory_calls", [])
    history = SessionValue("history", factory=lambda: calls.append(1) or []).get()
    history.append(len(history))
    flag = SessionValue("flag", "default")
    st.session_state["flag_seen"] = flag.get()
    st.session_state["flag_stored"] = "flag" in st.session_state


def test_a_factory_runs_once_per_session_and_its_object_comes_back_on_every_rerun():
    at = AppTest.from_function(_session_values_script, default_timeout=30)
    at.run()
    at.run()
    at.run()
    assert not at.exception
    assert at.session_state["factory_calls"] == [1]
    assert at.session_state["history"] == [0, 1, 2]  # same list across three reruns


def test_a_plain_default_is_read_without_being_stored_and_a_seeded_value_wins():
    at = AppTest.from_function(_session_values_script, default_timeout=30)
    at.run()
    assert at.session_state["flag_seen"] == "default" and not at.session_state["flag_stored"]
    at.session_state["flag"] = "seeded"  # what a test (or another page) put there
    at.run()
    assert at.session_state["flag_seen"] == "seeded"


def _persisted_script():
    import streamlit as st

    from ui.widgets import forget, persisted

    scope = st.session_state.get("scope")
    if st.session_state.pop("forget", False):
        forget("size", scope=scope)
    if st.session_state.get("page", "a") == "a":  # page "b" draws no widget: Streamlit drops their state
        options = st.session_state.get("options", ["small", "large"])
        st.session_state["size_seen"] = persisted(st.selectbox, "size", options[0], scope=scope, label="Size",
                                                  options=options)
        st.session_state["n_seen"] = persisted(st.number_input, "n", 3, scope=scope, valid=lambda n: n <= 5,
                                               label="N", min_value=1, max_value=9)


def _switch(at, page):
    at.session_state["page"] = page
    at.run()
    assert not at.exception


def test_persisted_values_survive_a_page_that_does_not_draw_them():
    at = AppTest.from_function(_persisted_script, default_timeout=30)
    at.run()
    assert at.session_state["size_seen"] == "small" and at.session_state["n_seen"] == 3  # the defaults
    at.selectbox(key="size").set_value("large").run()
    at.number_input(key="n").set_value(4).run()
    _switch(at, "b")
    _switch(at, "a")
    assert at.selectbox(key="size").value == "large" and at.number_input(key="n").value == 4


def test_a_scope_keeps_values_apart_and_brings_each_back():
    at = AppTest.from_function(_persisted_script, default_timeout=30)
    at.session_state["scope"] = "data-1"
    at.run()
    at.selectbox(key="size").set_value("large").run()
    _switch(at, "b")
    at.session_state["scope"] = "data-2"
    _switch(at, "a")
    assert at.selectbox(key="size").value == "small"  # data-1's choice does not carry over
    _switch(at, "b")
    at.session_state["scope"] = "data-1"
    _switch(at, "a")
    assert at.selectbox(key="size").value == "large"  # and comes back with data-1


def test_a_kept_value_that_no_longer_fits_starts_again_from_the_default():
    at = AppTest.from_function(_persisted_script, default_timeout=30)
    at.run()
    at.selectbox(key="size").set_value("large").run()
    at.number_input(key="n").set_value(8).run()
    _switch(at, "b")
    at.session_state["options"] = ["tiny", "small"]  # "large" is no longer an option
    _switch(at, "a")
    assert at.selectbox(key="size").value == "tiny"
    assert at.number_input(key="n").value == 3  # 8 fails `valid` (n <= 5)


def test_forget_drops_the_current_and_the_kept_value():
    at = AppTest.from_function(_persisted_script, default_timeout=30)
    at.run()
    at.selectbox(key="size").set_value("large").run()
    at.session_state["forget"] = True
    at.run()
    assert not at.exception and at.selectbox(key="size").value == "small"
