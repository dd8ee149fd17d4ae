"""``vaekit report``: one self-contained HTML file with every section, readable offline."""

import base64
import io
import os
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import vaekit
from vaekit.cli import main
from vaekit.data.shapes import make_shapes
from vaekit.report import SECTIONS

FAST = ["--hidden", "16", "--latent-dim", "3", "--epochs", "2", "--quiet"]


class _Page(HTMLParser):
    """Collects section ids with their headings, image sources and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: dict[str, list[str]] = {}
        self.urls: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        if tag == "img":
            self.images.setdefault(self.sections[-1], []).append(attrs["src"])
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and not v.startswith("#")]
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def _read(path) -> tuple[_Page, str]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    page.close()
    return page, text


def _decode_png(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    image.load()
    return image


@pytest.fixture(scope="module")
def shapes_files(tmp_path_factory):
    """A few hundred shapes as a .npy file with their factors, and a tiny model trained on them."""
    folder = tmp_path_factory.mktemp("shapes")
    shapes = make_shapes(300, seed=0)
    np.save(folder / "x.npy", shapes.x)
    np.save(folder / "factors.npy", shapes.factors)
    assert main(["train", str(folder / "x.npy"), "--out", str(folder / "run"), *FAST]) == 0
    return folder


def test_report_opens_and_contains_every_section(shapes_files, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", str(shapes_files / "run"), str(shapes_files / "x.npy"), "--factors",
                 str(shapes_files / "factors.npy"), "--max-points", "200", "--out", str(out), "--quiet"]) == 0
    page, text = _read(out)
    assert page.sections == [sid for sid, _ in SECTIONS]
    assert page.headings == [heading for _, heading in SECTIONS]
    for sid in ("training", "reconstructions", "samples", "latent-maps", "traversals", "active-units",
                "disentanglement"):
        assert page.images.get(sid), f"section {sid} has no figure"
    assert len(page.images["latent-maps"]) == 2  # PCA and t-SNE
    for sources in page.images.values():
        for src in sources:
            assert _decode_png(src).size[0] > 100
    assert all(url.startswith("data:") for url in page.urls)  # nothing to fetch: readable offline
    assert "MIG" in text and "FactorVAE" in text and "PC1" in text
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no scratch files left
    _check_in_a_browser(out, sum(len(v) for v in page.images.values()))


def _check_in_a_browser(path, n_images: int) -> None:
    """Open the file in Debian's headless Chromium with the network off: every figure must render."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("the browser check needs Playwright and Debian's chromium")
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(offline=True)
        page = context.new_page()
        page.goto(path.as_uri())
        widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
        headings = page.evaluate("Array.from(document.querySelectorAll('section > h2')).map(h => h.innerText)")
        browser.close()
    assert len(widths) == n_images and min(widths) > 100
    assert headings == [heading for _, heading in SECTIONS]


def test_report_of_a_table_without_factors_or_history(tmp_path):
    run = tmp_path / "wine"
    vaekit.VAE(hidden=(16,), latent_dim=3, epochs=2).fit(vaekit.load_dataset("wine")).save(run)  # no metrics
    out = tmp_path / "wine.html"
    assert main(["report", str(run), "wine", "--maps", "pca", "--out", str(out), "--quiet"]) == 0
    page, text = _read(out)
    assert page.sections == [sid for sid, _ in SECTIONS]
    assert "No known factors of variation" in text and "disentanglement" not in page.images
    assert "no training history" in text and "training" not in page.images
    assert len(page.images["latent-maps"]) == 1 and "PC1" in text
    for sid in ("reconstructions", "samples", "traversals", "active-units"):  # tables get their own pictures
        assert page.images.get(sid) and _decode_png(page.images[sid][0]).size[0] > 100, sid
    assert all(url.startswith("data:") for url in page.urls)


def test_report_refuses_data_the_model_was_not_trained_on(shapes_files, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(shapes_files / "run"), "digits", "--out", str(out), "--quiet"]) == 1
    assert "but the model was trained on image examples of shape (1, 64, 64)" in capsys.readouterr().err
    assert not out.exists()
