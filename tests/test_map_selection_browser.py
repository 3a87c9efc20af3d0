"""A real-browser lasso on the Embeddings map lists the selected items, their category mix and their users.

A tiny model is trained on the planted data into a private run store first; the browser makes it the
active run on the Train page, opens the Embeddings page and drags a lasso over the map's centre.
Skips with a reason when Chromium or Playwright is absent (see the conftest fixtures).
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO_ROOT, running_streamlit
from planted import TINY, planted_dataset


@pytest.mark.browser
def test_lasso_on_the_item_map_lists_the_selected_items(browser_page, artifacts_dir, tmp_path):
    from playwright.sync_api import expect

    from recsys.config import TrainConfig
    from recsys.store import RunStore
    from recsys.training import train_run

    store = RunStore(tmp_path / "runs")
    train_run(planted_dataset(), TrainConfig(**{**TINY, "epochs": 2}), store=store)
    page = browser_page
    with running_streamlit(REPO_ROOT / "app.py", log_path=artifacts_dir / "selection-server.log",
                           env={"RECSYS_RUNS_DIR": str(store.root)}) as url:
        page.goto(url)
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Train").click()
        page.get_by_text("Show runs of all datasets").click()  # the run is of the planted data, not the demo
        page.get_by_role("button", name="Make active").click()
        expect(page.get_by_role("heading", name="Active run")).to_be_visible(timeout=30_000)
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Embeddings").click()
        chart = page.get_by_test_id("stPlotlyChart").first
        expect(chart.locator(".main-svg").first).to_be_attached(timeout=60_000)
        expect(page.get_by_text("Draw a lasso or a box on the map")).to_be_visible()
        box = chart.locator(".nsewdrag").first.bounding_box()
        assert box is not None
        corners = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.1, 0.12)]
        page.mouse.move(box["x"] + box["width"] * corners[0][0], box["y"] + box["height"] * corners[0][1])
        page.mouse.down()
        for fx, fy in corners[1:]:
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=8)
        page.mouse.up()
        summary = page.get_by_text(re.compile(r"\d+ items? selected"))
        expect(summary).to_be_visible(timeout=30_000)
        n_selected = int(re.match(r"(\d+)", summary.inner_text()).group(1))
        assert n_selected >= 5  # most of the 64 items lie inside the central 80% of the view
        mix = page.get_by_test_id("stTable")
        expect(mix).to_contain_text("topic")  # the planted items' categories
        expect(page.get_by_text("Users for whom these items rank highest")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "map-selection.png"), full_page=True, animations="disabled")
