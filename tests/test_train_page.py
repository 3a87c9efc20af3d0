"""The Train page's settings behave as a person expects (AppTest through app.py): settings are kept per
dataset, and rated data offers a minimum rating and rating weights. (AppTest drops the sidebar after
`switch_page`, so the sidebar's Run line is checked in the browser test, tests/test_browser_watch.py.)"""

from __future__ import annotations

import pytest

from planted import TINY, planted_dataset


@pytest.fixture
def app(fresh_app):
    at = fresh_app(timeout=120)
    at.run()
    return at


def _ok(at):
    assert not at.exception, [e.message for e in at.exception]


def test_settings_do_not_carry_over_to_another_dataset_and_come_back_with_their_own(app):
    at = app
    at.session_state["datasets"]["planted"] = planted_dataset()
    at.switch_page("pages/train.py").run()
    at.number_input(key="dim").set_value(8).run()
    assert at.number_input(key="dim").value == 8
    at.switch_page("pages/data.py").run()
    at.session_state["active_dataset"] = "planted"  # what choosing it on the Data page does
    at.switch_page("pages/train.py").run()
    _ok(at)
    from recsys.config import TrainConfig

    assert at.number_input(key="dim").value == TrainConfig().dim  # the default, not the demo data's 8
    at.switch_page("pages/data.py").run()
    at.session_state["active_dataset"] = "demo"
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="dim").value == 8  # the demo data's own setting is back


def test_rated_data_offers_a_minimum_rating_and_a_user_model_that_reach_the_config(app):
    at = app
    at.switch_page("pages/train.py").run()
    _ok(at)
    assert at.number_input(key="min_rating").disabled  # off by default, as in the CLI
    at.checkbox(key="use_min_rating").check().run()
    at.number_input(key="min_rating").set_value(4.0).run()
    at.checkbox(key="rating_weights").check().run()
    assert at.selectbox(key="user_cell").value == "lstm"
    at.selectbox(key="user_cell").set_value("gru").run()
    _ok(at)
    assert any("of the events are kept" in c.value for c in at.caption)
    for key, value in {**{k: v for k, v in TINY.items() if k in ("dim", "lstm_units", "cnn_filters", "kernel_size",
                                                                   "seq_len", "batch_size", "seed")},
                       "epochs": 1}.items():
        at.number_input(key=key).set_value(value)
    at.run()
    at.button(key="train").click().run()
    _ok(at)
    from ui.resources import job_registry

    job = job_registry().get(at.session_state["train_job"])
    assert job.config.min_rating == 4.0 and job.config.rating_weights
    assert job.config.user_cell == "gru"  # the Train page's choice of user model reaches the config
    job.cancel()
    job.wait(timeout=600)
