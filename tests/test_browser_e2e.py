"""One real-browser path through the studio: upload MovieLens 100k → train a tiny model → recommendations
(move α with the keyboard) → embedding map, with a screenshot of each page under test-artifacts/.

Runs its own `streamlit run` with a private RECSYS_RUNS_DIR, so it never reads or writes ./runs.
Skips with a reason when the shared data or Chromium is absent (see the conftest fixtures).
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT, running_streamlit

TINY = {"Embedding dim": 8, "LSTM units": 8, "CNN filters": 8, "Sequence length": 10, "Epochs": 1, "Batch size": 256}
TRAIN_TIMEOUT_MS = 240_000


def _shot(page, artifacts_dir, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"e2e-{name}.png"), full_page=True, animations="disabled")


def _open(page, label: str) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text=label).click()


@pytest.mark.slow
@pytest.mark.browser
def test_upload_train_recommend_and_map_in_a_browser(shared_data, browser_page, artifacts_dir, tmp_path):
    from playwright.sync_api import expect

    ml100k = shared_data / "ml-100k"
    if not (ml100k / "u.data").is_file() or not (ml100k / "u.item").is_file():
        pytest.skip(f"MovieLens 100k files not found in {ml100k}")
    page = browser_page
    env = {"RECSYS_RUNS_DIR": str(tmp_path / "runs")}
    with running_streamlit(REPO_ROOT / "app.py", log_path=artifacts_dir / "e2e-server.log", env=env) as url:
        page.goto(url)
        expect(page.get_by_role("heading", name="Recsys Studio")).to_be_visible()
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Dataset: demo")

        # Data: upload u.data and u.item (no type filter on the uploaders), load, read the report.
        _open(page, "Data")
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        uploads = page.get_by_test_id("stFileUploaderDropzoneInput")
        uploads.nth(0).set_input_files(str(ml100k / "u.data"))
        expect(page.get_by_text("u.data", exact=True).first).to_be_visible()
        uploads.nth(1).set_input_files(str(ml100k / "u.item"))
        expect(page.get_by_text("u.item", exact=True).first).to_be_visible()
        page.get_by_role("button", name="Load", exact=True).click()
        expect(page.get_by_text("Loaded; this is now the active dataset")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Dataset: u.data")
        expect(page.get_by_role("combobox", name="Active dataset")).to_have_value("u.data")
        expect(page.get_by_test_id("stMetricValue").first).to_have_text("100,000")
        expect(page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first).to_be_attached()
        _shot(page, artifacts_dir, "data")

        # Train: a tiny 1-epoch model in the background, with live progress.
        _open(page, "Train")
        expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
        for label, value in TINY.items():
            box = page.get_by_label(label, exact=True)
            box.fill(str(value))
            box.press("Enter")
            expect(box).to_have_value(str(value))
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text("Training finished")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Run: ")
        _shot(page, artifacts_dir, "train")

        # Recommendations: the top-10 for the first user; move α one step with the keyboard.
        _open(page, "Recommendations")
        heading = page.get_by_role("heading", name=re.compile(r"Top 10 at α = "))
        expect(heading).to_be_visible(timeout=60_000)
        before = heading.inner_text()
        slider = page.get_by_test_id("stSlider").filter(has_text="weight of the collaborative part").get_by_role("slider")
        slider.focus()
        slider.press("ArrowRight" if "1.00" not in before else "ArrowLeft")
        expect(heading).not_to_have_text(before, timeout=30_000)
        expect(page.get_by_test_id("stSidebar")).to_contain_text(heading.inner_text().split("= ")[1])
        _shot(page, artifacts_dir, "recommendations")
        # The file is generated on click for the button of the latest rerun (each rerun registers a new
        # generator and drops the old one), so click once the page has redrawn it with the new α.
        alpha = heading.inner_text().split("= ")[1]
        download = page.get_by_role("button", name=f"Download top-10 of every user (CSV, α = {alpha})")
        expect(download).to_be_visible(timeout=60_000)
        with page.expect_download(timeout=60_000) as download_info:
            download.click()
        lines = open(download_info.value.path(), encoding="utf-8").read().splitlines()
        assert lines[0] == "user_id,rank,item_id,title,score,cf_score,content_score"
        assert len(lines) == 1 + 943 * 10  # every ml-100k user has far more than 10 unseen movies

        # Embeddings: the PCA map of the CF item vectors.
        _open(page, "Embeddings")
        expect(page.get_by_role("heading", name="Embeddings", exact=True)).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first).to_be_attached(timeout=60_000)
        _shot(page, artifacts_dir, "embeddings")
        download = page.get_by_role("button", name="Download CF item vectors with ids (CSV)")
        expect(download).to_be_visible(timeout=60_000)
        with page.expect_download(timeout=60_000) as download_info:  # generated on click, not on every rerun
            download.click()
        lines = open(download_info.value.path(), encoding="utf-8").read().splitlines()
        assert lines[0].startswith("item_id,d0,d1,") and len(lines) == 1 + 1682
        assert not page.get_by_test_id("stException").count()
