"""Issue #6, point 4: spreadsheet formula injection, path traversal, no pickle, Keras safe mode, no raw HTML.

One real (1-epoch, TINY) run is trained on the planted data whose user and item ids are formula
payloads; the CLI `recommend` export of that run and a crafted `model.keras` are checked against it.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planted import TINY, planted_frames
from recsys.export import neutralise_cell, safe_for_csv, to_csv_bytes
from recsys.store import RunStore, RunStoreError, load_run

REPO = Path(__file__).resolve().parents[1]

PAYLOADS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0"]
PLAIN = ["-3", "+1.5", "42", "-0.25", "1e5", "", "abc", "u001", "3-2"]

USER_PAYLOADS = {"u000": '=HYPERLINK("http://x","y")', "u001": "+1+1", "u002": "-2+3", "u003": "@SUM(A1)",
                 "u004": "-3"}
ITEM_PAYLOADS = {"i000": "=cmd|' /C calc'!A0", "i016": "@SUM(A1)", "i031": "+1+1", "i046": "-5"}


def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --------------------------------------------------------------------------------------------- CSV export


def _expected(payload: str) -> str:
    """The neutralised cell: an apostrophe first; a CR becomes a line feed (so the CSV writer quotes it)."""
    return "'" + payload.replace("\r", "\n")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payload_cells_are_prefixed_with_an_apostrophe(payload):
    assert neutralise_cell(payload) == _expected(payload)


@pytest.mark.parametrize("value", ["x\r=1+1", "name\r\n@SUM(A1)", "a\r+1\r-2"])
def test_a_carriage_return_inside_a_cell_cannot_start_a_new_row(value):
    frame = pd.DataFrame({"title": [value], "score": [1.5]})
    raw = to_csv_bytes(frame).decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert len(rows) == 2, raw  # header + one row: the CR did not break the row
    assert rows[1][0] == value.replace("\r\n", "\n").replace("\r", "\n") and rows[1][1] == "1.5"
    assert "\r" not in raw


@pytest.mark.parametrize("value", PLAIN)
def test_plain_numbers_and_text_stay_as_they_are(value):
    assert neutralise_cell(value) == value


def test_to_csv_bytes_neutralises_every_text_column_and_keeps_numbers():
    frame = pd.DataFrame({
        "user_id": pd.Series(PAYLOADS + ["-3"], dtype=object),
        "title": pd.Series(["-3"] + PAYLOADS, dtype="string"),
        "category": pd.Categorical(["@SUM(A1)"] * (len(PAYLOADS) + 1)),
        "score": np.linspace(-3.0, 1.0, len(PAYLOADS) + 1),
        "rank": np.arange(1, len(PAYLOADS) + 2),
    })
    rows = _csv_rows(to_csv_bytes(frame).decode("utf-8"))
    assert [r["user_id"] for r in rows] == [_expected(p) for p in PAYLOADS] + ["-3"]
    assert [r["title"] for r in rows] == ["-3"] + [_expected(p) for p in PAYLOADS]
    assert {r["category"] for r in rows} == {"'@SUM(A1)"}
    np.testing.assert_allclose([float(r["score"]) for r in rows], frame["score"])  # numbers stay numbers
    assert rows[0]["score"] == "-3.0"
    # no cell of the file starts with a formula character unless it is a plain number
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")) or re.fullmatch(r"[+-]?[\d.eE+-]+", value)
    assert frame["user_id"].iloc[0] == PAYLOADS[0]  # the caller's frame is not modified
    assert safe_for_csv(frame)["user_id"].iloc[0] == _expected(PAYLOADS[0])


@pytest.fixture(scope="module")
def payload_files(tmp_path_factory):
    """The planted data written as CSV files whose ids are spreadsheet formulas."""
    folder = tmp_path_factory.mktemp("payload-data")
    inter, items = planted_frames()
    inter["user_id"] = inter["user_id"].replace(USER_PAYLOADS)
    inter["item_id"] = inter["item_id"].replace(ITEM_PAYLOADS)
    items["item_id"] = items["item_id"].replace(ITEM_PAYLOADS)
    inter.to_csv(folder / "interactions.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    return folder / "interactions.csv", folder / "items.csv"


@pytest.fixture(scope="module")
def payload_run(payload_files, tmp_path_factory):
    from recsys.config import TrainConfig
    from recsys.data import load_dataset
    from recsys.training import train_run

    ds = load_dataset(*payload_files)
    assert set(USER_PAYLOADS.values()) <= set(ds.user_ids)
    assert set(ITEM_PAYLOADS.values()) <= set(ds.item_ids)
    store = RunStore(tmp_path_factory.mktemp("payload-runs"))
    return train_run(ds, TrainConfig(**{**TINY, "epochs": 1}), store=store)


def test_cli_recommend_output_neutralises_payload_user_and_item_ids(payload_run, tmp_path, capsys):
    from recsys.cli import main

    out = tmp_path / "recs.csv"
    assert main(["recommend", "--run-dir", str(payload_run.path), "--k", "60", "--out", str(out)]) == 0
    rows = _csv_rows(out.read_text(encoding="utf-8"))
    assert rows
    payload_users = {v for v in USER_PAYLOADS.values() if v != "-3"}
    seen_users = {r["user_id"] for r in rows}
    assert {"'" + u for u in payload_users} <= seen_users
    assert "-3" in seen_users  # a numeric-looking id is not altered
    assert not payload_users & seen_users  # no raw payload survives
    seen_items = {r["item_id"] for r in rows}
    payload_items = {v for v in ITEM_PAYLOADS.values() if v != "-5"}
    assert {"'" + i for i in payload_items} & seen_items  # k=60 reaches the payload items
    assert not payload_items & seen_items
    assert "-5" in seen_items
    for r in rows:  # scores remain plain numbers
        float(r["score"]), float(r["cf_score"]), float(r["content_score"])
        assert int(r["rank"]) >= 1


def test_cli_recommend_accepts_payload_ids_as_user_selection(payload_run, tmp_path):
    from recsys.cli import main

    out = tmp_path / "one.csv"
    target = USER_PAYLOADS["u000"]
    assert main(["recommend", "--run-dir", str(payload_run.path), "--k", "3", "--out", str(out),
                 "--users", target]) == 0
    rows = _csv_rows(out.read_text(encoding="utf-8"))
    assert [r["user_id"] for r in rows] == ["'" + target] * 3


# ------------------------------------------------------------------------------------------ path traversal


BAD_RUN_IDS = ["../x", "/etc", "a/../../b", "..", ".", "", "0123abcd/../../etc", "0123abcd/", "/0123abcdef",
               "0123abcd\n", "0123abcd\x00", "０１２３ａｂｃｄ", "0123abcdé", "ÀBCDEF0123", "..\\..\\x", "~",
               "0123ABCD" + "/" + "0123abcd", "x" * 300, None, 12345678, b"0123abcd"]


@pytest.mark.parametrize("run_id", BAD_RUN_IDS, ids=repr)
def test_run_ids_that_are_not_plain_hex_hashes_are_refused(tmp_path, run_id):
    store = RunStore(tmp_path / "runs")
    with pytest.raises(RunStoreError, match="invalid run id"):
        store.path_for(run_id)
    with pytest.raises(RunStoreError):
        store.load(run_id)
    with pytest.raises(RunStoreError):
        store.has(run_id)


def test_a_valid_run_id_maps_to_a_folder_directly_inside_the_store(tmp_path):
    store = RunStore(tmp_path / "runs")
    assert store.path_for("0123abcdef") == (tmp_path / "runs" / "0123abcdef").resolve()


def test_a_symlink_in_the_store_cannot_lead_outside_it(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "runs").mkdir()
    os.symlink(outside, tmp_path / "runs" / "0123abcdef")
    with pytest.raises(RunStoreError, match="outside the run store"):
        RunStore(tmp_path / "runs").path_for("0123abcdef")


def test_evaluation_cache_names_cannot_be_steered_by_k(tmp_path):
    from recsys.jobs import JobRegistry, submit_evaluation

    registry = JobRegistry()
    for k in ("../../../tmp/x", "10/../../x", 0, -1):
        with pytest.raises((TypeError, ValueError)):
            submit_evaluation(registry, RunStore(tmp_path / "runs"), object(), None, k=k)
    assert not (tmp_path / "runs").exists() and registry.jobs() == []


# ----------------------------------------------------------------------------------------------- no pickle


def _recsys_sources() -> dict[str, ast.Module]:
    root = REPO / "recsys"  # every module, packages included
    return {str(p.relative_to(root)): ast.parse(p.read_text(), filename=str(p)) for p in sorted(root.rglob("*.py"))}


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def test_every_np_load_refuses_pickles():
    calls = []
    for name, tree in _recsys_sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) in ("np.load", "numpy.load"):
                kw = {k.arg: k.value for k in node.keywords}
                ok = isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False
                calls.append((name, node.lineno, ok))
    assert calls, "expected np.load calls in recsys (the run store loads vectors)"
    assert all(ok for *_, ok in calls), [c for c in calls if not c[2]]
    # the grep view agrees (catches `from numpy import load` style too)
    for path in (REPO / "recsys").rglob("*.py"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bload\(", line) and "np.load" in line:
                assert "allow_pickle=False" in line, f"{path.relative_to(REPO)}:{lineno}: {line.strip()}"


def test_no_pickle_based_loaders_are_used_in_recsys():
    banned_modules = {"pickle", "cPickle", "_pickle", "joblib", "cloudpickle", "dill", "shelve", "marshal", "torch"}
    banned_calls = {"pd.read_pickle", "pandas.read_pickle", "torch.load", "np.lib.format.read_array"}
    found = []
    for name, tree in _recsys_sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(name, node.lineno, a.name) for a in node.names if a.name.split(".")[0] in banned_modules]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in banned_modules:
                found.append((name, node.lineno, node.module))
            elif isinstance(node, ast.Call) and _dotted(node.func) in banned_calls:
                found.append((name, node.lineno, _dotted(node.func)))
    assert found == []


KERAS_LOADERS = {"load_model", "keras.saving.load_model", "keras.models.load_model", "saving.load_model",
                 "models.load_model", "tf.keras.models.load_model", "keras.src.saving.saving_api.load_model"}


def test_every_keras_load_model_call_uses_safe_mode():
    calls = []
    for name, tree in _recsys_sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) in KERAS_LOADERS:
                kw = {k.arg: k.value for k in node.keywords}
                ok = isinstance(kw.get("safe_mode"), ast.Constant) and kw["safe_mode"].value is True
                calls.append((name, node.lineno, ok))
    assert calls and all(ok for *_, ok in calls), calls


def test_a_model_file_with_a_lambda_layer_is_refused(payload_run, tmp_path):
    import keras

    assert payload_run.load_model() is not None  # the genuine model loads in safe mode
    copy = tmp_path / payload_run.path.name
    shutil.copytree(payload_run.path, copy)
    canary = str(tmp_path / "pwned")
    inputs = keras.Input((2,))
    # the function would create `canary` if it ever ran
    outputs = keras.layers.Lambda(lambda x: (open(canary, "w").close(), x)[1])(inputs)
    keras.Model(inputs, outputs).save(copy / "model.keras")
    if os.path.exists(canary):  # building the model traced the function once; only loading matters here
        os.remove(canary)
    crafted = load_run(copy)
    with pytest.raises(ValueError, match="(?i)lambda|safe_mode|unsafe"):
        crafted.load_model()
    assert not os.path.exists(canary)


def test_a_model_config_naming_an_arbitrary_module_is_refused(payload_run, tmp_path):
    """A hand-edited model.keras whose config points at `os.system` must not be imported or called."""
    import zipfile

    copy = tmp_path / payload_run.path.name
    shutil.copytree(payload_run.path, copy)
    canary = tmp_path / "pwned-module"
    config = {"module": "os", "class_name": "system", "config": {"command": f"touch {canary}"},
              "registered_name": "system"}
    with zipfile.ZipFile(copy / "model.keras", "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.0"}))
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do; what matters is nothing ran
        load_run(copy).load_model()
    assert not canary.exists()


# ------------------------------------------------------------------------------------------- UI: no raw HTML


def _ui_sources() -> list[Path]:
    files = [REPO / "app.py"] + sorted((REPO / "pages").glob("**/*.py")) + sorted((REPO / "ui").glob("**/*.py"))
    return [p for p in files if p.is_file()]


# The one allowed st.html: a constant stylesheet (no arguments, so no user text can reach it).
_FIXED_STYLE_CALL = "st.html(upload_limit_style())"


def test_streamlit_pages_never_render_raw_html():
    sources = _ui_sources()
    assert sources, "app.py / pages / ui not found"
    offending = []
    for path in sources:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if _FIXED_STYLE_CALL in line:
                continue
            if re.search(r"unsafe_allow_html|unsafe_allow_javascript|\bst\.html\(|components\.v1|components\.html",
                         line):
                offending.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert offending == []


def test_the_only_html_is_a_constant_stylesheet():
    import inspect

    from ui.data_io import upload_limit_style

    assert not inspect.signature(upload_limit_style).parameters
    css = upload_limit_style()
    assert css.startswith("<style>") and css.endswith("</style>") and css.count("<") == 2


def test_streamlit_downloads_go_through_the_formula_safe_export():
    offending = []
    for path in _ui_sources():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.to_csv\(", line):
                offending.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert offending == [], "CSV downloads must use recsys.export.to_csv_bytes"


SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
LINK = "[click](javascript:alert(3))"


def test_embedding_map_puts_user_titles_only_in_data_fields():
    from recsys.plots import embedding_map

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.5], "title": [SCRIPT, IMG, LINK],
                          "item_id": ["i1", "i2", "i3"], "cluster": ["cluster 0", "cluster 1", "cluster 0"]})
    fig = embedding_map(frame, x="x", y="y", color="cluster", hover_name="title", hover_data=["item_id"],
                        highlight={"Searched item": [0], "Nearest neighbours": [1, 2]}, title="items — PCA")
    layout = fig.layout.to_plotly_json()
    layout_text = json.dumps(layout)
    for payload in (SCRIPT, IMG, LINK):
        assert payload not in layout_text  # title, annotations, legend title, axis titles
        assert all(payload not in str(trace.name) for trace in fig.data)  # legend entries
        assert all(payload not in str(trace.hovertemplate) for trace in fig.data)  # the template is fixed
    hover = [str(t) for trace in fig.data for t in (trace.hovertext if trace.hovertext is not None else [])]
    assert SCRIPT in hover and IMG in hover and LINK in hover  # user text lives in the data fields


def test_embedding_map_coloured_by_user_categories_keeps_them_out_of_legend_names():
    from recsys.plots import embedding_map

    frame = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "title": ["a", "b"], "category": [SCRIPT, IMG]})
    fig = embedding_map(frame, x="x", y="y", color="category", hover_name="title")
    names = [str(trace.name) for trace in fig.data]
    assert not any(SCRIPT in n or IMG in n for n in names), names
