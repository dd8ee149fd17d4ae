"""The explorer page end to end: `vaekit explore` in a subprocess, driven by a real headless Chromium.

Uses Debian's chromium through Playwright (never a downloaded browser). Skipped, with the reason,
only on a developer machine without them; under CI (CI=true) their absence is a failure.
"""

import os
import re
import select
import shutil
import subprocess
import sys

import pytest

from vaekit.cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
STARTUP_SECONDS = 180


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not os.path.exists(CHROMIUM):
        return "Debian's chromium is not installed (apt-get install chromium)"
    return None


if _missing() and os.environ.get("CI", "").lower() not in ("true", "1"):
    pytest.skip(f"browser tests need a browser: {_missing()}", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402 (after the skip: it may be missing)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    run = tmp_path_factory.mktemp("explore") / "digits"
    assert main(["train", "digits", "--out", str(run), "--hidden", "32", "--latent-dim", "4", "--epochs", "3",
                 "--quiet"]) == 0
    log = run.parent / "server.log"  # a file, so a chatty server can never block on a full pipe
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "vaekit", "explore", str(run), "digits", "--port", "0"],
                                stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_SECONDS)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("vaekit explorer: http://127.0.0.1:"), (line, proc.poll(), log.read_text())
        yield line.split()[2]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=60_000)
    yield page
    assert errors == []  # no script errors, no refused requests, no CSP violations
    assert page.locator("#status").text_content() == ""
    page.close()


def visible_points(page, count):
    """``count`` points far apart, each the topmost element at its centre (so the pointer hits it)."""
    topmost = page.locator("#points circle").evaluate_all("""circles => circles.filter(c => {
        const r = c.getBoundingClientRect();
        return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === c;
    }).map(c => [c.getBoundingClientRect().x, c.dataset.index])""")
    topmost.sort(key=lambda t: t[0])
    step = (len(topmost) - 1) // max(count - 1, 1)
    return [page.locator(f'#points circle[data-index="{index}"]') for _, index in topmost[::step][:count]]


def test_page_loads_with_one_point_per_example(page):
    expect(page.locator("#summary")).to_contain_text("1797 images, 4 latent dimensions")
    expect(page.locator("#points circle")).to_have_count(1797)
    fills = page.locator("#points circle").evaluate_all("cs => cs.map(c => c.getAttribute('fill'))")
    assert len(set(fills)) == 10  # coloured by the ten digit labels
    expect(page.locator("#legend > span")).to_have_count(10)
    page.select_option("#colour", "none")
    assert set(page.locator("#points circle").evaluate_all("cs => cs.map(c => c.getAttribute('fill'))")) == {
        "#4c72b0"}


def test_hovering_a_point_shows_the_example_and_its_reconstruction(page):
    first, second = visible_points(page, 2)
    first.hover()
    images = page.locator("#hover img")
    expect(images).to_have_count(2)
    expect(images.first).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    shown = images.first.get_attribute("src")
    expect(page.locator("#hover-caption")).to_contain_text(f"#{first.get_attribute('data-index')} label ")
    second.hover()
    expect(page.locator("#hover-caption")).to_contain_text(f"#{second.get_attribute('data-index')} ")
    assert images.first.get_attribute("src") != shown


def test_dragging_a_slider_changes_the_decoded_image(page):
    image = page.locator("#slider-image img")
    expect(image).to_have_count(1)
    page.wait_for_load_state("networkidle")
    before = image.get_attribute("src")
    slider = page.locator("#sliders input").first
    box = slider.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    assert float(slider.input_value()) > 2.5
    expect(image).not_to_have_attribute("src", before)


def test_picking_two_points_draws_the_interpolation(page):
    a, b = visible_points(page, 2)
    a.click()
    expect(page.locator("#neighbours img")).to_have_count(8)
    expect(page.locator("#slider-caption")).to_have_text(f"around example #{a.get_attribute('data-index')}")
    b.click()
    strip = page.locator("#interpolation img")
    expect(strip).to_have_count(10)
    expect(page.locator("#marks .pick-label")).to_have_text(["A", "B"])
    ends = {strip.nth(0).get_attribute("src"), strip.nth(9).get_attribute("src")}
    assert len(ends) == 2 and all(src.startswith("data:image/png;base64,") for src in ends)


def test_clicking_empty_space_decodes_that_location(page):
    box = page.locator("#plot-bg").bounding_box()
    page.mouse.click(box["x"] + 0.9 * box["width"], box["y"] + 0.08 * box["height"])  # a corner, no points
    expect(page.locator("#location img")).to_have_count(1)
    expect(page.locator("#location-caption")).to_contain_text("at (")
    expect(page.locator("#marks .location-mark")).to_have_count(1)


def test_generating_samples_at_a_temperature(page):
    page.locator("#temperature").fill("0.5")
    expect(page.locator("#temperature-value")).to_have_text("0.50")
    page.click("#generate")
    expect(page.locator("#samples img")).to_have_count(16)
