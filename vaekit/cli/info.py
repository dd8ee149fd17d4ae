"""``vaekit info``: what a run folder holds."""

from __future__ import annotations

import argparse
import json

from vaekit.cli.common import add_parser

ORDER = 90

DESCRIPTION = """\
Describe a run folder: the data it was trained on, the architecture and its parameter count,
the training settings, and how training went (epochs, best validation ELBO, throughput).

example:
  vaekit info runs/digits
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "info", "describe a run folder", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("--json", action="store_true", help="print the config and summary as JSON")
    p.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    from vaekit.io.runfolder import RunFolder

    run = RunFolder(args.run_dir).require()
    config = run.read_config()
    module = run.load_module(config)
    history = run.read_metrics()
    n_params = sum(p.numel() for p in module.parameters())
    best = max(history, key=lambda r: r.get("val_elbo", r["train_elbo"])) if history else None
    if args.json:
        print(json.dumps({"config": config.to_dict(), "parameters": n_params, "epochs": len(history),
                          "best": best}))
        return 0
    m, t = config.model, config.train
    network = {"mlp": f"hidden {list(m.hidden)}", "conv": f"hidden {list(m.hidden)}, channels {list(m.channels)}",
               "resnet": f"width {m.res_width}, {m.res_blocks} blocks x {m.res_stages} stages",
               "hierarchical": f"width {m.res_width}, {m.res_blocks} blocks x {m.res_stages} stages, "
                               f"{m.latent_groups} stochastic layers ({m.latent_channels}-channel maps)"}[m.arch]
    lines = [
        f"run folder   {run.path}",
        f"data         {config.data.get('source', '?')} ({config.data.get('kind', '?')}, shape {m.input_shape})",
        (f"model        {m.arch}, {network}, latent {m.latent_dim}, "
         f"likelihood {m.likelihood}, prior {m.prior}"),
        *[f"{role:<13}{spec['class']} (your own), kwargs {spec['kwargs']}"
          for role, spec in (("encoder", m.encoder), ("decoder", m.decoder)) if spec],
        f"parameters   {n_params:,}",
        (f"training     beta {t.beta}, iw-samples {t.iw_samples}, lr {t.lr}, batch {t.batch_size}, "
         f"binarize {t.binarize}, seed {t.seed}"),
        "versions     " + ", ".join(f"{k} {v}" for k, v in config.versions.items()),
    ]
    if best:
        last = history[-1]
        lines += [
            f"epochs       {len(history)} (best {best['epoch']}), {last['elapsed_s']:.1f} s of training",
            (f"best ELBO    validation {best.get('val_elbo', float('nan')):.3f}, "
             f"train {best['train_elbo']:.3f} nats per example"),
            f"throughput   {last['samples_per_s']:,.0f} samples/s (last epoch)",
        ]
    print("\n".join(lines))
    return 0
