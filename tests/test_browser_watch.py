"""A newcomer's first five minutes in a real browser: the demo data, default settings but one epoch,
and the Train page kept open (its progress panel refreshing every second) until training finishes.

This is the path that failed before: with the page watched, the job thread raised Keras' "cannot add
new elements of state … already built" at `compile`, or sat at "preparing" for minutes. Then the
Recommendations page must show a table, the Embeddings page a map, and every page is screenshotted
into test-artifacts/ for a person to look at. A second test has two browser sessions watch two jobs.

Each test runs its own `streamlit run` with a private RECSYS_RUNS_DIR (nothing is shared with ./runs).
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT, running_streamlit

TRAIN_TIMEOUT_MS = 420_000  # one default-size epoch on the demo data on a busy 2-core box, with margin


def _open(page, label: str) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text=label).click()


def _shot(page, artifacts_dir, name: str) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main area, so the viewport grows first."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 3000})
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / f"watch-{name}.png"), full_page=True, animations="disabled")
    page.set_viewport_size(size)


def _set_number(page, label: str, value) -> None:
    from playwright.sync_api import expect

    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))


def _wait_until_idle(page) -> None:
    """Until the page's script run ends: a rerun redraws widgets and can close an open dropdown."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=60_000)


def _pick_option(page, label: str, index: int) -> None:
    """Open the selectbox `label` and pick its option `index`, as a person clicks it.

    The page may still be drawing when the box first appears (CI once saw the list not open on a
    keypress sent mid-rerun), so it waits for the run to end and reopens the list up to three times.
    """
    from playwright.sync_api import expect

    options = page.get_by_role("option")
    for attempt in range(3):
        _wait_until_idle(page)
        page.get_by_role("combobox", name=label).click()
        try:
            expect(options.nth(index)).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    options.nth(index).click()


def _train_and_watch(page, *, seed: int | None = None) -> None:
    """On the Train page: epochs = 1 (and a seed), press Train and stay until "Training finished"."""
    from playwright.sync_api import expect

    _open(page, "Train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    _set_number(page, "Epochs", 1)
    if seed is not None:
        _set_number(page, "Seed", seed)
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_test_id("stProgress").first).to_be_visible(timeout=30_000)
    finished = page.get_by_text("Training finished")
    failed = page.get_by_text("Training failed")
    expect(finished.or_(failed).first).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    assert not failed.count(), page.get_by_test_id("stAlert").all_inner_texts()
    assert not page.get_by_test_id("stException").count()


@pytest.mark.slow
@pytest.mark.browser
def test_training_while_watching_then_every_page(browser_page, artifacts_dir, tmp_path):
    from playwright.sync_api import expect

    page = browser_page
    env = {"RECSYS_RUNS_DIR": str(tmp_path / "runs")}
    with running_streamlit(REPO_ROOT / "app.py", log_path=artifacts_dir / "watch-server.log", env=env,
                           as_a_person_starts_it=True, cwd=tmp_path) as url:
        page.goto(url)
        expect(page.get_by_role("heading", name="Recsys Studio")).to_be_visible()
        _shot(page, artifacts_dir, "home")
        _open(page, "Data")
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        _shot(page, artifacts_dir, "data")

        _train_and_watch(page)
        finished = page.get_by_text("Training finished").inner_text()  # "… run <id> is the active run."
        run_id = re.search(r"run ([0-9a-f]{10})", finished).group(1)
        expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Run: {run_id}")  # true at once
        _shot(page, artifacts_dir, "train")

        _open(page, "Recommendations")
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=60_000)
        _shot(page, artifacts_dir, "recommendations")
        # Why this item: pick the first recommendation (option 0 is the placeholder); the explanation draws its chart.
        _pick_option(page, "Explain", 1)
        expect(page.get_by_text("Which history items drove the score")).to_be_visible(timeout=60_000)
        _shot(page, artifacts_dir, "explanation")
        assert not page.get_by_test_id("stException").count()

        _open(page, "Embeddings")
        expect(page.get_by_role("heading", name="Embeddings", exact=True)).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first).to_be_attached(timeout=60_000)
        _shot(page, artifacts_dir, "embeddings")

        _open(page, "Evaluate")
        expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible()
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=10_000)  # no retraining
        expect(page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first).to_be_attached(timeout=10_000)
        _shot(page, artifacts_dir, "evaluate")
        assert not page.get_by_test_id("stException").count()


@pytest.mark.slow
@pytest.mark.browser
def test_two_sessions_watch_two_jobs(_chromium, artifacts_dir, tmp_path):
    from playwright.sync_api import expect

    from conftest import VIEWPORT

    env = {"RECSYS_RUNS_DIR": str(tmp_path / "runs")}
    contexts = [_chromium.new_context(viewport=VIEWPORT) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        with running_streamlit(REPO_ROOT / "app.py", log_path=artifacts_dir / "watch-two-server.log", env=env,
                           as_a_person_starts_it=True, cwd=tmp_path) as url:
            for page in pages:
                page.set_default_timeout(30_000)
                page.goto(url)
                expect(page.get_by_role("heading", name="Recsys Studio")).to_be_visible()
            for seed, page in enumerate(pages):  # two configs: two jobs, both pages left open on Train
                _open(page, "Train")
                _set_number(page, "Epochs", 1)
                _set_number(page, "Seed", seed + 1)
                page.get_by_role("button", name="Train", exact=True).click()
                expect(page.get_by_test_id("stProgress").first).to_be_visible(timeout=30_000)
            for i, page in enumerate(pages):
                page.bring_to_front()  # a person looks at one window at a time; both panels keep refreshing
                finished = page.get_by_text("Training finished")
                failed = page.get_by_text("Training failed")
                try:
                    expect(finished.or_(failed).first).to_be_visible(timeout=2 * TRAIN_TIMEOUT_MS)
                    assert not failed.count(), page.get_by_test_id("stAlert").all_inner_texts()
                    run_id = re.search(r"run ([0-9a-f]{10})", finished.inner_text()).group(1)
                    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Run: {run_id}", timeout=30_000)
                finally:
                    page.screenshot(path=str(artifacts_dir / f"watch-two-session{i + 1}-last.png"))
                page.screenshot(path=str(artifacts_dir / f"watch-two-session{i + 1}.png"), full_page=True,
                                animations="disabled")
                assert not failed.count(), page.get_by_test_id("stAlert").all_inner_texts()
            runs = [p.get_by_test_id("stSidebar").inner_text() for p in pages]
            assert runs[0] != runs[1], runs  # each session made its own run active
    finally:
        for context in contexts:
            context.close()
