"""The course's opening forecast and lesson 4's occluder toy in a real browser: JupyterLab in headless Chromium.

Course map: one click on ▶ plays the ForecastPlayer — the frame slider advances on its own and the picture changes
with it; the player is screenshotted mid-forecast. Lesson 4: the occluder section's guess shows its answer only
when pressed, and the toy's GateSurgery redraws when a region is chosen. Screenshots land in
``artifacts/screenshots/`` (kept, not committed). Same browser set-up and skip rules as tests/test_browser.py.
"""

from __future__ import annotations

import time

from test_browser import ARTIFACTS, _area_png, browser, choose_region, close_clean, lab, open_lesson, pytestmark  # noqa: F401


def test_one_click_plays_the_forecast(lab, browser):  # noqa: F811
    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, errors = open_lesson(browser, base, token, "00_course_map.ipynb", 90)
    play = page.locator(".widget-play").first
    play.scroll_into_view_if_needed()
    area = play.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]")
    handle = area.locator(".widget-slider .noUi-handle").first
    image = area.locator("img").first
    assert float(handle.get_attribute("aria-valuenow")) == 0
    seen = {_area_png(image)}
    play.locator("button").first.click()  # ▶
    values = set()
    deadline = time.time() + 15
    while time.time() < deadline:
        time.sleep(0.25)
        values.add(float(handle.get_attribute("aria-valuenow")))
        seen.add(_area_png(image))
        if max(values) >= 13:  # into the forecast
            break
    assert len(values) >= 4, f"the frame slider did not advance by itself: {sorted(values)}"
    assert len(seen) >= 3, "the picture did not follow the playing slider"
    play.locator("button").first.click()  # the same button pauses
    time.sleep(0.5)
    t = int(float(handle.get_attribute("aria-valuenow")))
    # the caption follows the frame: reading while t < 10, a lead time after
    caption = area.locator(".widget-html").first.text_content() or ""
    assert f"frame t = {t}" in caption, (t, caption)
    assert ("lead time" in caption) == (t >= 10), caption
    area.screenshot(path=str(ARTIFACTS / "00_course_map-forecast-player.png"))
    close_clean(page, errors)


def test_occluder_guess_then_toy_surgery(lab, browser):  # noqa: F811
    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, errors = open_lesson(browser, base, token, "04_training_convlstm.ipynb", 150)
    button = page.locator("button:has-text('Run it: show the answer')").last  # the occluder's guess
    button.scroll_into_view_if_needed()
    guess_area = button.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea')][1]")
    assert "Clamp f ← 0 in the three channels" in (guess_area.text_content() or "")
    assert guess_area.locator("text=Answer:").count() == 0
    button.click()
    guess_area.locator("text=Answer:").wait_for(timeout=15_000)
    guess_area.screenshot(path=str(ARTIFACTS / "04_training_convlstm-occluder-guess.png"))
    # the toy's GateSurgery is the lesson's last one: choose a region, the gate maps and forecast are redrawn
    where = page.locator(".widget-dropdown select:has(option:text-is('a region (rows × cols)'))").last
    area, changed = choose_region(where)
    assert changed, "choosing a region did not redraw the toy's gate maps and forecast"
    area.scroll_into_view_if_needed()
    area.screenshot(path=str(ARTIFACTS / "04_training_convlstm-occluder-surgery.png"))
    close_clean(page, errors)
