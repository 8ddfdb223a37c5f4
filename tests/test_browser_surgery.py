"""Gate surgery and "guess before you run" in a real browser (lessons 5 and 6): JupyterLab in headless Chromium.

After run-all: press the guess button (the answer appears only then), choose "a region" in GateSurgery and move the
row-range slider with the keyboard — the gate maps and the forecast must be redrawn. Screenshots land in
``artifacts/screenshots/`` (kept, not committed). Same browser set-up and skip rules as tests/test_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import (  # noqa: F401
    ARTIFACTS,
    _area_png,
    _changed,
    browser,
    choose_region,
    close_clean,
    lab,
    open_lesson,
    pytestmark,
)

LESSONS = {"05_st_lstm.ipynb": 150, "06_zigzag_memory.ipynb": 150}


@pytest.mark.parametrize("notebook", sorted(LESSONS))
def test_guess_then_region_surgery(lab, browser, notebook):  # noqa: F811
    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = Path(notebook).stem
    page, errors = open_lesson(browser, base, token, notebook, LESSONS[notebook])

    # guess before you run: no answer until the button is pressed
    button = page.locator("button:has-text('Run it: show the answer')").first
    button.scroll_into_view_if_needed()
    guess_area = button.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]")
    assert guess_area.locator("text=Answer:").count() == 0
    choice = guess_area.locator(".widget-dropdown select")
    if choice.count():
        choice.first.select_option(index=1)
    button.click()
    page.wait_for_selector("text=Answer:", timeout=10_000)
    assert button.is_disabled()
    guess_area.screenshot(path=str(ARTIFACTS / f"{stem}-guess.png"))

    # GateSurgery: "where" → a region, then move the lower handle of the rows slider
    where = page.locator(".widget-dropdown select:has(option:text-is('a region (rows × cols)'))").first
    area, changed = choose_region(where)
    assert changed, "choosing a region did not redraw the gate maps and the forecast"
    image = area.locator(".widget-image, img").first
    rows = area.locator(".widget-slider:has-text('rows') .noUi-handle").first
    rows.wait_for(timeout=10_000)
    before = _area_png(image)
    rows.click()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert _changed(image, before), "moving the rows of the region did not redraw"
    page.wait_for_selector("text=rows 6–11 × cols 4–11", timeout=10_000)  # the line reading the gate rows follows
    area.scroll_into_view_if_needed()
    area.screenshot(path=str(ARTIFACTS / f"{stem}-surgery-region.png"))
    close_clean(page, errors)
