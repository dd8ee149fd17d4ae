"""One self-contained HTML report of a trained model: every picture of a run on one page.

Figures are drawn by the same functions as the commands (``vaekit train``'s pictures,
``latent``, ``traverse``, ``dims``, ``disentangle``) into a temporary folder and embedded
as base64 PNG, so the single file opens offline, can be mailed, and holds no links.
"""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vaekit.data import Dataset
from vaekit.errors import ConfigError
from vaekit.estimator import VAE
from vaekit.io import atomic
from vaekit.latent.dims import LatentDimensions, latent_dimensions
from vaekit.latent.disentanglement import score_model
from vaekit.latent.maps import METHODS
from vaekit.latent.pictures import METHOD_NAMES, draw_latent_map, draw_traversal
from vaekit.latent.plots import plot_dimensions, plot_factor_matrix
from vaekit.latent.traversal import traversal_values
from vaekit.pictures.run_pictures import draw_run_pictures
from vaekit.version import __version__

#: (id, heading) of every section, in page order.
SECTIONS = (
    ("summary", "Summary"),
    ("training", "Training curves"),
    ("reconstructions", "Reconstructions"),
    ("samples", "Samples"),
    ("latent-maps", "Latent maps"),
    ("traversals", "Traversals"),
    ("active-units", "Active units"),
    ("disentanglement", "Disentanglement"),
)
TRAVERSAL_DIMS = 10
TRAVERSAL_STEPS = 9

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
nav a { margin-right: 1em; }
section { border-top: 1px solid #ccc; margin-top: 2em; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { padding: 0.2em 0.8em; text-align: left; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; }
"""


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.3f}</td>'
        return f"<td>{html.escape(str(value))}</td>"

    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


class _Report:
    """Builds the sections one at a time (each a step of the progress bar) in a scratch folder."""

    def __init__(self, vae: VAE, data: Dataset, folder: Path, run_name: str, maps: Sequence[str],
                 max_points: int, seed: int) -> None:
        self.vae, self.data, self.folder = vae, data, folder
        self.run_name, self.maps, self.max_points, self.seed = run_name, maps, max_points, seed
        self.dims: LatentDimensions | None = None

    def steps(self) -> list[Callable[[], dict[str, str]]]:
        """Each step returns the body of one or more sections, by section id."""
        return [self.summary, self.run_pictures, self.latent_maps, self.traversals, self.active_units,
                self.disentanglement]

    def summary(self) -> dict[str, str]:
        vae, data = self.vae, self.data
        m, t = vae.config_.model, vae.config_.train
        self.dims = latent_dimensions(vae, data)
        rows = [
            ("run", self.run_name),
            ("data", f"{data.source} ({data.n} examples, {data.kind}, shape {data.shape})"),
            ("model", (f"{m.arch}, hidden {list(m.hidden)}, latent {m.latent_dim}, likelihood {m.likelihood}, "
                      f"prior {m.prior}")),
            ("training", (f"beta {t.beta}, lr {t.lr}, batch {t.batch_size}, seed {t.seed}, "
                          + (f"{len(vae.history_)} epochs (best {vae.best_epoch_})" if vae.history_
                             else "no training history"))),
            ("ELBO on this data", f"{vae.score(data):.3f} nats per example"),
            ("active units", f"{int(self.dims.active.sum())} of {m.latent_dim}"),
        ]
        return {"summary": _table((), rows)}

    def run_pictures(self) -> dict[str, str]:
        """Training curves, reconstructions and samples: the pictures ``vaekit train`` draws."""
        pictures = {p.stem: p for p in draw_run_pictures(self.vae, self.data, self.folder)}
        training = (_image(pictures["loss"], "training curves") if "loss" in pictures
                    else _note("This run folder has no training history (metrics.jsonl)."))
        return {
            "training": training,
            "reconstructions": _image(pictures["reconstructions"], "reconstructions"),
            "samples": _note("Codes drawn from the prior, decoded to the decoder's mean.")
            + _image(pictures["samples"], "samples from the prior"),
        }

    def latent_maps(self) -> dict[str, str]:
        data = self.data
        if data.n > self.max_points:
            chosen = np.sort(np.random.default_rng(self.seed).choice(data.n, self.max_points, replace=False))
            data = data.subset(chosen)
        codes = self.vae.transform(data)
        parts = [_note(f"Posterior means of {data.n} examples"
                       + (f" (a random {data.n} of {self.data.n})" if data.n < self.data.n else "") + ".")]
        for method in self.maps:
            path = self.folder / f"map_{method}.png"
            info = draw_latent_map(self.vae, data, path, method, seed=self.seed, codes=codes)
            parts.append(f"<h3>{METHOD_NAMES[method]}</h3>")
            if method == "pca":
                ratios = info["explained_variance_ratio"]
                parts.append(_table(["component", "share of latent variance"],
                                    [(f"PC{j + 1}", r) for j, r in enumerate(ratios)]))
            parts.append(_image(path, f"{METHOD_NAMES[method]} map of the latent codes"))
        return {"latent-maps": "\n".join(parts)}

    def traversals(self) -> dict[str, str]:
        dims = self.dims.order[:TRAVERSAL_DIMS]
        path = self.folder / "traversal.png"
        values = traversal_values(-3.0, 3.0, TRAVERSAL_STEPS)
        base = np.zeros(self.vae.module_.latent_dim, dtype=np.float32)
        draw_traversal(self.vae, base, "the origin", dims, values, path, self.dims)
        shown = f"the {len(dims)} dimensions with the largest KL" if len(dims) < len(self.dims.order) else \
            "every dimension, largest KL first"
        return {"traversals": _note(f"One latent dimension per row set to -3..3 (prior standard deviations), "
                                    f"the others at 0; {shown}.") + _image(path, "latent traversals")}

    def active_units(self) -> dict[str, str]:
        path = self.folder / "dims.png"
        plot_dimensions(self.dims, path)
        rows = [(f"z{r['dim']}", r["kl"], r["activity"], "active" if r["active"] else "inactive")
                for r in self.dims.rows()]
        return {"active-units": _note("A dimension is active when its posterior mean varies over the data: "
                                      "Cov_x(E_q[z_u]) > 0.01.")
                + _image(path, "KL and activity per latent dimension")
                + _table(["dimension", "KL (nats)", "activity", ""], rows)}

    def disentanglement(self) -> dict[str, str]:
        if self.data.factors is None:
            return {"disentanglement": _note("No known factors of variation for this data: pass --factors FILE, "
                                             "or use the built-in shapes data, to score MIG, FactorVAE, DCI "
                                             "and SAP.")}
        scores = score_model(self.vae, self.data, self.seed)
        path = self.folder / "factors.png"
        plot_factor_matrix(np.asarray(scores.normalized_mi), path, scores.factor_names,
                           "mutual information / factor entropy")
        summary = _table(["metric", "score (1 = perfectly disentangled)"], [
            ("MIG", scores.mig), ("FactorVAE score", scores.factor_vae),
            ("DCI disentanglement", scores.dci_disentanglement), ("DCI completeness", scores.dci_completeness),
            ("DCI informativeness", scores.dci_informativeness), ("SAP", scores.sap)])
        per_factor = _table(["factor", "MIG", "SAP", "completeness", "informativeness"], [
            (name, *(scores.per_factor[key][k] for key in ("mig", "sap", "completeness", "informativeness")))
            for k, name in enumerate(scores.factor_names)])
        return {"disentanglement": summary + per_factor
                + _image(path, "mutual information between dimensions and factors")}


def write_report(
    vae: VAE,
    data: Dataset,
    out: str | Path,
    *,
    run_name: str = "",
    maps: Sequence[str] = ("pca", "tsne"),
    max_points: int = 5000,
    seed: int = 0,
    progress: bool = False,
) -> None:
    """Write the HTML report of fitted ``vae`` on ``data`` to ``out`` (atomically)."""
    unknown = [m for m in maps if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown map method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    data = vae.preprocessor_.check(data)
    bodies: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vaekit-report-") as tmp:
        report = _Report(vae, data, Path(tmp), run_name, maps, max_points, seed)
        for build in tqdm(report.steps(), desc="report", unit="step", disable=not progress):
            bodies.update(build())
    parts = [f'<section id="{sid}"><h2>{heading}</h2>\n{bodies[sid]}\n</section>' for sid, heading in SECTIONS]
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = " ".join(f'<a href="#{sid}">{heading}</a>' for sid, heading in SECTIONS)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>vaekit report: {html.escape(run_name)}</title><style>{STYLE}</style></head>\n<body>"
            f"<h1>vaekit report: {html.escape(run_name)}</h1>"
            f'<p class="note">vaekit {__version__}, {created}</p><nav>{nav}</nav>\n'
            + "\n".join(parts) + "\n</body></html>\n")
    atomic.write_text(out, page)
