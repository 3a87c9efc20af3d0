"""The store folder's layout: RunStore is the one place that builds its paths."""

import pytest

from recsys.store import RunStore, RunStoreError

RUN_ID = "0123456789abcdef0123"


def test_runs_evaluations_and_projections_have_their_own_places_in_the_store(tmp_path):
    store = RunStore(tmp_path / "runs")
    root = (tmp_path / "runs").resolve()
    assert store.path_for(RUN_ID) == root / RUN_ID
    assert store.evaluation_path(RUN_ID, k=10) == root / "evaluations" / f"eval-{RUN_ID}-k10.json"
    assert store.projections_dir(RUN_ID) == root / "projections" / RUN_ID
    assert not root.exists()  # asking for a path creates nothing


def test_the_side_folders_are_never_listed_as_runs(tmp_path):
    store = RunStore(tmp_path)
    store.evaluation_path(RUN_ID, k=5).parent.mkdir(parents=True)
    store.evaluation_path(RUN_ID, k=5).write_text("{}")
    store.projections_dir(RUN_ID).mkdir(parents=True)
    assert store.list_runs() == [] and not store.has(RUN_ID)


@pytest.mark.parametrize("run_id", ["../x", "abc/../../x", "evaluations", "0123abcd\n", ""])
def test_every_place_refuses_ids_that_are_not_run_ids(tmp_path, run_id):
    store = RunStore(tmp_path)
    for place in (store.path_for, store.projections_dir, lambda r: store.evaluation_path(r, k=10)):
        with pytest.raises(RunStoreError, match="invalid run id"):
            place(run_id)


@pytest.mark.parametrize("k", [0, -1, 2.5, "10", True])
def test_an_evaluation_cutoff_must_be_a_whole_number_of_at_least_one(tmp_path, k):
    with pytest.raises(ValueError, match="k must be"):
        RunStore(tmp_path).evaluation_path(RUN_ID, k=k)
