"""Run bundles: export + import round trip, and every way a hostile bundle is refused with the store unchanged."""

import hashlib
import io
import json
import stat
import zipfile

import numpy as np
import pandas as pd
import pytest
from planted import TINY, planted_dataset

from recsys.bundle import MANIFEST, BundleError, bundle_bytes, export_bundle, import_bundle
from recsys.cli import main
from recsys.config import TrainConfig
from recsys.data import DataError
from recsys.serving import recommend
from recsys.store import RUN_FILES, RunStore, load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from recsys.training import train_run

    path = tmp_path_factory.mktemp("bundle") / "run"
    train_run(planted_dataset(), TrainConfig(**{**TINY, "epochs": 3}), run_dir=path)
    return path


@pytest.fixture(scope="module")
def bundle(run_dir, tmp_path_factory):
    return export_bundle(run_dir, tmp_path_factory.mktemp("bundle-zip") / "run.zip")


@pytest.fixture
def store(tmp_path):
    """A run store that already holds something (a projection cache), so 'unchanged' is not 'empty'."""
    root = tmp_path / "store"
    (root / "projections").mkdir(parents=True)
    (root / "projections" / "note.txt").write_text("kept")
    return root


def snapshot(root) -> dict:
    """Every path under `root` (hidden ones too) with the sha256 of each file."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def rewrite(src, dst, *, replace=None, add=(), drop=(), fix_manifest=False):
    """Copies bundle `src` to `dst` with members replaced, added (ZipInfo or name, bytes) or dropped."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    members.update(replace)
    for name in drop:
        members.pop(name)
    if fix_manifest:
        manifest = json.loads(members[MANIFEST])
        for name in replace:
            manifest["members"][name] = {"size": len(replace[name]), "sha256": hashlib.sha256(replace[name]).hexdigest()}
        members[MANIFEST] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name, data in members.items():
            zout.writestr(name, data)
        for info, data in add:
            zout.writestr(info, data)
    return dst


def refused(bundle_path, store_root, match, **caps):
    before = snapshot(store_root)
    with pytest.raises(BundleError, match=match) as info:
        import_bundle(bundle_path, store=store_root, **caps)
    assert isinstance(info.value, DataError)
    assert "\n" not in str(info.value)
    assert snapshot(store_root) == before
    return str(info.value)


def test_round_trip_gives_identical_recommendations(run_dir, bundle, store):
    path, added = import_bundle(bundle, store=store)
    assert added and path.parent == store and RunStore(store).has(path.name)
    original, imported = load_run(run_dir), load_run(path)
    assert imported.run_id == original.run_id
    pd.testing.assert_frame_equal(recommend(imported, k=10), recommend(original, k=10))
    for name in RUN_FILES:
        assert (path / name).read_bytes() == (run_dir / name).read_bytes(), name
    assert [r["run_id"] for r in RunStore(store).list_runs()] == [original.run_id]
    imported.load_model()  # Keras safe mode


def test_importing_the_same_run_again_leaves_the_store_as_it_was(bundle, store):
    import_bundle(bundle, store=store)
    before = snapshot(store)
    path, added = import_bundle(bundle, store=store)
    assert not added and snapshot(store) == before


def test_bundle_bytes_is_the_same_zip_as_the_file(run_dir, bundle):
    with zipfile.ZipFile(io.BytesIO(bundle_bytes(run_dir))) as a, zipfile.ZipFile(bundle) as b:
        assert a.namelist() == b.namelist() == [MANIFEST, *RUN_FILES]
        assert all(a.read(n) == b.read(n) for n in RUN_FILES)


def test_an_upload_object_imports_like_a_path(bundle, store):
    path, added = import_bundle(io.BytesIO(bundle.read_bytes()), store=store)
    assert added and load_run(path).n_items == load_run(path).vectors.cf_item.shape[0]


def test_a_corrupted_member_is_refused_by_its_sha256(bundle, store, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        data = bytearray(zf.read("vectors/cf_item.npy"))
    data[-1] ^= 0xFF  # one flipped byte in the last vector value
    bad = rewrite(bundle, tmp_path / "bad.zip", replace={"vectors/cf_item.npy": bytes(data)})
    message = refused(bad, store, "does not match its sha256")
    assert "vectors/cf_item.npy" in message


def test_a_corrupted_bundle_is_refused_even_when_the_run_is_already_stored(bundle, store, tmp_path):
    import_bundle(bundle, store=store)
    with zipfile.ZipFile(bundle) as zf:
        data = bytearray(zf.read("metrics.json"))
    data[5] = ord("#")
    bad = rewrite(bundle, tmp_path / "bad.zip", replace={"metrics.json": bytes(data)})
    refused(bad, store, "'metrics.json' does not match its sha256")


def test_an_extra_member_is_refused(bundle, store, tmp_path):
    bad = rewrite(bundle, tmp_path / "extra.zip", add=[("notes.txt", b"hello")])
    refused(bad, store, "unexpected member 'notes.txt'")


def test_a_traversal_path_is_refused(bundle, store, tmp_path):
    bad = rewrite(bundle, tmp_path / "slip.zip", add=[("../../evil.json", b"{}")])
    refused(bad, store, r"'\.\./\.\./evil\.json' has an unsafe path")
    bad = rewrite(bundle, tmp_path / "abs.zip", add=[("/etc/evil.json", b"{}")])
    refused(bad, store, "unsafe path")
    assert not (tmp_path / "evil.json").exists()


def test_an_oversized_bundle_is_refused_from_its_sizes(bundle, store):
    refused(bundle, store, "over the 1,000-byte limit per member", max_member_bytes=1000)
    refused(bundle, store, r"the bundle is [\d,]+ bytes uncompressed, over the 100,000-byte limit",
            max_bundle_bytes=100_000)


def test_too_many_members_are_refused(bundle, store, tmp_path):
    bad = rewrite(bundle, tmp_path / "many.zip", add=[(f"x{i}.json", b"{}") for i in range(60)])
    refused(bad, store, "has 77 members, more than the 64")


def test_a_symlink_member_is_refused(bundle, store, tmp_path):
    link = zipfile.ZipInfo("history.json")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    bad = rewrite(bundle, tmp_path / "link.zip", drop=["history.json"], add=[(link, b"/etc/passwd")])
    refused(bad, store, "'history.json' is a symbolic link")


def test_a_pickle_member_is_refused(bundle, store, tmp_path):
    bad = rewrite(bundle, tmp_path / "pkl.zip", add=[("vectors/extra.pkl", b"\x80\x04N.")])
    refused(bad, store, "'vectors/extra.pkl' is a pickle")


def test_an_object_array_is_refused_even_with_a_matching_manifest(bundle, store, tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    bad = rewrite(bundle, tmp_path / "obj.zip", replace={"vectors/cf_bias.npy": buffer.getvalue()}, fix_manifest=True)
    refused(bad, store, "'vectors/cf_bias.npy' holds Python objects")


def test_a_missing_member_is_refused(bundle, store, tmp_path):
    bad = rewrite(bundle, tmp_path / "missing.zip", drop=["events.parquet"])
    refused(bad, store, "'events.parquet' is missing")


def test_tables_that_disagree_with_the_vectors_are_refused(bundle, store, tmp_path):
    users = pd.DataFrame({"user_id": ["only-one"]})
    buffer = io.BytesIO()
    users.to_parquet(buffer)
    bad = rewrite(bundle, tmp_path / "users.zip", replace={"users.parquet": buffer.getvalue()}, fix_manifest=True)
    refused(bad, store, "events.parquet column 'user' must hold indices 0..0")


def test_a_file_that_is_not_a_zip_is_refused(store, tmp_path):
    bad = tmp_path / "run.zip"
    bad.write_bytes(b"not a zip at all")
    refused(bad, store, "is not a zip file")


def test_cli_export_and_import_run(run_dir, store, tmp_path, capsys):
    out = tmp_path / "cli.zip"
    assert main(["export-run", "--run-dir", str(run_dir), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(out)
    assert main(["import-run", str(out), "--store", str(store)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["added"] and load_run(result["run_dir"]).run_id == load_run(run_dir).run_id


def test_cli_bad_bundles_exit_2_with_one_line(bundle, store, tmp_path, capsys):
    bad = rewrite(bundle, tmp_path / "extra.zip", add=[("notes.txt", b"hello")])
    before = snapshot(store)
    assert main(["import-run", str(bad), "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refused: unexpected member 'notes.txt'") and "\n" not in err
    assert snapshot(store) == before
    assert main(["export-run", "--run-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.zip")]) == 2
    assert "no run at" in capsys.readouterr().err


def test_help_on_the_share_commands(capsys):
    for command in ("export-run", "import-run", "export-savedmodel"):
        assert main([command, "--help"]) == 0
        assert "usage:" in capsys.readouterr().out


# ------------------------------------------------------------------ the Train page's panel (AppTest)
def test_an_imported_bundle_becomes_the_active_run_and_every_page_works(fresh_app, bundle, run_dir, tmp_path):
    at = fresh_app()
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    upload = next(u for u in at.get("file_uploader") if u.label == "Import a run bundle")
    upload.set_value(("run.zip", bundle.read_bytes(), "application/zip")).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    run_id = load_run(run_dir).run_id
    assert at.session_state["active_run"] == str(tmp_path / "runs" / run_id)
    assert any("is the active run now" in s.value and "dataset is not loaded" in s.value for s in at.success)
    assert any(run_id in t.value for t in at.text)  # the page's active-run section shows it
    assert any(b.label == "Download run bundle" for b in at.get("download_button"))
    for page in ("pages/recommendations.py", "pages/embeddings.py", "pages/evaluate.py", "pages/data.py",
                 "pages/home.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.message for e in at.exception])
    at.switch_page("pages/recommendations.py").run()
    assert len(at.dataframe) and not at.error  # history and top-N from the bundle alone (planted data not loaded)
    at.switch_page("pages/evaluate.py").run()
    assert len(at.dataframe) and not at.error  # the test report travels in the bundle's metrics.json


def test_a_refused_upload_says_why_and_keeps_the_active_run(fresh_app, bundle, tmp_path):
    at = fresh_app()
    at.run()
    at.switch_page("pages/train.py").run()
    before = at.session_state["active_run"] if "active_run" in at.session_state else None
    bad = rewrite(bundle, tmp_path / "extra.zip", add=[("notes.txt", b"hello")])
    upload = next(u for u in at.get("file_uploader") if u.label == "Import a run bundle")
    upload.set_value(("extra.zip", bad.read_bytes(), "application/zip")).run()
    assert not at.exception
    assert any("unexpected member" in e.value for e in at.error)
    assert (at.session_state["active_run"] if "active_run" in at.session_state else None) == before
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("[0-9a-f]*"))


def test_settings_that_the_studio_cannot_use_are_refused(bundle, store, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        config = json.loads(zf.read("config.json"))
    bad = rewrite(bundle, tmp_path / "cfg.zip", replace={"config.json": json.dumps({**config, "dim": -4}).encode()},
                  fix_manifest=True)
    refused(bad, store, "config.json does not hold valid settings")
    bad = rewrite(bundle, tmp_path / "hist.zip", replace={"history.json": b"{}"}, fix_manifest=True)
    refused(bad, store, "'history.json' holds a JSON dict, not a list")


def test_evaluate_says_what_is_missing_for_an_imported_run_without_a_report(fresh_app, bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        metrics = json.loads(zf.read("metrics.json"))
    metrics.pop("evaluation", None)  # as a run trained before runs carried their test report
    old = rewrite(bundle, tmp_path / "old.zip", replace={"metrics.json": json.dumps(metrics).encode()},
                  fix_manifest=True)
    at = fresh_app()
    at.run()
    at.switch_page("pages/train.py").run()
    upload = next(u for u in at.get("file_uploader") if u.label == "Import a run bundle")
    upload.set_value(("old.zip", old.read_bytes(), "application/zip")).run()
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    assert any("dataset is not loaded" in w.value and "Data page" in w.value for w in at.warning)
