"""``vaekit train``: fit a VAE and write a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vaekit.cli.common import add_data_options, add_parser, data_help, load_data
from vaekit.config.column_types import COLUMN_TYPES, parse_column_type
from vaekit.config.configs import (
    ARCHITECTURES,
    BINARIZE_MODES,
    GRAD_ESTIMATORS,
    KL_SCHEDULES,
    LIKELIHOOD_NAMES,
    LR_SCHEDULES,
    PRECISIONS,
    PRIOR_NAMES,
    ModelConfig,
    estimator_params,
)
from vaekit.config.presets import add_preset_option, apply_preset
from vaekit.errors import VaekitError
from vaekit.io import atomic

if TYPE_CHECKING:
    from vaekit.estimator import VAE

ORDER = 10

#: What ``--freeze`` accepts (``vaekit.train.transfer`` matches the patterns).
FREEZE_HELP = ("encoder, decoder, or a glob or regular expression over parameter names such as "
               "'encoder.layers.0.*' or '.*bias'; a name's dotted prefixes match too, so 'decoder.layers.0' "
               "is one layer")

DESCRIPTION = """\
Train a VAE on DATA and write the run folder RUN: config.json, model.safetensors (the best
weights by validation ELBO), preprocessing.json, metrics.jsonl (one line per epoch),
checkpoints/ and pictures (samples.png, reconstructions.png, loss.png).

The objective is the ELBO = E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)); with --iw-samples K > 1
it is the tighter importance-weighted bound (IWAE). Training stops early when the validation
ELBO has not improved for --patience epochs. An interrupted run continues with --resume.

examples:
  vaekit train digits --out runs/digits
  vaekit train mnist5k --preset fast --out runs/fast           # a tested configuration; flags override it
  vaekit train mnist5k --kl-schedule linear --kl-warmup 10 --prior vamp --out runs/vamp
  vaekit train images/ --resize 32x32 --model conv --likelihood logistic --out runs/faces
  vaekit train table.csv --label-column species --latent-dim 4 --out runs/table
  vaekit train train-images-idx3-ubyte.gz --test t10k-images-idx3-ubyte.gz --out runs/mnist
  vaekit train few.npy --init-from runs/mnist --lr 3e-4 --out runs/few          # fine-tune
  vaekit train new.npy --init-from runs/mnist --freeze decoder --out runs/new   # same latent map
  vaekit train huge.npy --mmap --workers 2 --out runs/huge     # streamed from disk: data larger than memory
  torchrun --nproc-per-node 4 -m vaekit train digits --out runs/ddp   # 4 processes, DDP; 4x the batch

Under torchrun (one or several nodes) every process trains on its shard of each batch with
DistributedDataParallel (gloo on CPU, NCCL on GPUs); --batch-size is per process, so the
effective batch is N times larger: keep --lr for the same number of epochs at N times the
throughput, or scale it by N for large batches (the linear scaling rule), or divide
--batch-size by N to train exactly like one process. Rank 0 writes the run folder; resume
with the same number of processes.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "train", "train a VAE and write a run folder", DESCRIPTION)
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    p.add_argument("--test", metavar="DATA", help="held-out data to evaluate on after training")
    model = p.add_argument_group("model")
    model.add_argument("--model", choices=ARCHITECTURES, default="mlp",
                       help="mlp for any data; conv for images of any size")
    model.add_argument("--hidden", type=int, nargs="+", default=[400], metavar="N",
                       help="hidden layer widths (encoder order; the decoder mirrors them)")
    model.add_argument("--channels", type=int, nargs="+", default=[32, 64], metavar="C",
                       help="conv only: channels of each stride-2 conv layer")
    model.add_argument("--latent-dim", type=int, default=20, help="size of the latent code z")
    model.add_argument("--likelihood", choices=["auto", *LIKELIHOOD_NAMES], default="auto",
                       help="p(x|z): auto = bernoulli for images, gaussian for tables; logistic or "
                            "categorical model 8-bit pixels exactly")
    model.add_argument("--prior", choices=PRIOR_NAMES, default="normal",
                       help="p(z): normal N(0, I); mog, a learned Gaussian mixture; vamp, VampPrior")
    model.add_argument("--prior-components", type=int, metavar="K",
                       help="mixture components (mog, default 10) or pseudo-inputs (vamp, default 100)")
    model.add_argument("--ladder", type=int, nargs="+", default=[], metavar="N",
                       help="sizes of extra stochastic layers above z, bottom to top (ladder-style top-down "
                            "inference), e.g. --latent-dim 32 --ladder 16")
    model.add_argument("--column-type", action="append", default=[], metavar="COL=TYPE", type=parse_column_type,
                       help=f"--likelihood mixed: set a column's type ({', '.join(COLUMN_TYPES)}) instead of "
                            "detecting it; repeat for several columns")
    model.add_argument("--binarize", choices=["auto", *BINARIZE_MODES], default="auto",
                       help="bernoulli only: static = one fixed random binarisation, dynamic = resampled "
                            "every epoch (auto: dynamic for images)")
    model.add_argument("--mixture-components", type=int, default=10, metavar="K",
                       help="--likelihood logistic_mixture (PixelCNN++'s discretized logistic mixture, "
                            "RGB-coupled, for 8-bit pixels): components per pixel")
    model.add_argument("--res-width", type=int, default=32, metavar="C",
                       help="--model resnet (residual conv networks for images): channels of the first stage, "
                            "doubled at each further stage")
    model.add_argument("--res-blocks", type=int, default=1, metavar="N",
                       help="--model resnet: residual blocks per stage")
    model.add_argument("--res-stages", type=int, default=2, metavar="N",
                       help="--model resnet: stages, each halving height and width (rounding up)")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 100; with --resume, "
                                                              "raise it to train longer)")
    opt.add_argument("--batch-size", type=int, default=128)
    opt.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    opt.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                     help="cosine: decay --lr to 0 over --epochs (better results for a fixed budget of epochs; "
                          "raising --epochs on --resume stretches the curve, so the rate rises again)")
    opt.add_argument("--beta", type=float, default=1.0, help="weight of the KL term (1 = the true ELBO; "
                                                             ">1 favours disentangled codes)")
    opt.add_argument("--iw-samples", type=int, default=1, help="importance samples per example (1 = ELBO)")
    opt.add_argument("--val-fraction", type=float, default=0.1, help="share of DATA held out for validation")
    opt.add_argument("--patience", type=int, default=10, help="epochs without validation improvement "
                                                              "before stopping")
    opt.add_argument("--seed", type=int, default=0)
    opt.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:1 ...")
    opt.add_argument("--precision", choices=PRECISIONS, default="fp32",
                     help="bf16: matrix products in bfloat16 (faster on GPUs and CPUs with bf16 units only)")
    opt.add_argument("--compile", action="store_true", help="compile the encoder and decoder with torch.compile "
                                                            "(a one-off compile; measure before relying on it)")
    opt.add_argument("--workers", type=int, default=0, help="with --mmap: worker processes reading batches ahead")
    transfer = p.add_argument_group("transfer learning")
    transfer.add_argument("--init-from", metavar="RUN",
                          help="start from this trained run's weights: all of them, or those whose shapes fit "
                               "(fresh input/output layers for data of another size); model options left at "
                               "their defaults follow RUN. transfer.json lists what was reused")
    transfer.add_argument("--freeze", nargs="+", default=[], metavar="PART",
                          help=f"with --init-from, keep these parameters fixed: {FREEZE_HELP}")
    latent = p.add_argument_group("latent space (KL levers; README: Better latent spaces)")
    latent.add_argument("--kl-schedule", choices=KL_SCHEDULES, default="constant",
                        help="KL weight: constant beta; linear warm-up from 0; cyclical ramps (Fu et al.)")
    latent.add_argument("--kl-warmup", type=float, default=0.0, metavar="EPOCHS",
                        help="ramp length of --kl-schedule (cyclical: each ramp, then as long at beta)")
    latent.add_argument("--free-bits", type=float, default=0.0, metavar="NATS",
                        help="floor under each latent dimension's KL in the loss, against collapse (0 = off)")
    latent.add_argument("--capacity", type=float, metavar="NATS",
                        help="capacity annealing: gamma*|KL - C|, C rising to NATS (needs --capacity-epochs)")
    latent.add_argument("--capacity-epochs", type=float, default=0.0, metavar="EPOCHS",
                        help="epochs over which the capacity C rises from 0")
    latent.add_argument("--capacity-gamma", type=float, default=1000.0, help="weight gamma of |KL - C|")
    latent.add_argument("--tc-beta", type=float, metavar="B",
                        help="beta-TCVAE: weight of the total-correlation part of the KL (disentangling)")
    latent.add_argument("--grad-estimator", choices=GRAD_ESTIMATORS, default="standard",
                        help="encoder gradient of the IWAE bound: dreg (doubly reparameterised) or stl "
                             "(sticking the landing) lower its noise")
    run = p.add_argument_group("run")
    run.add_argument("--resume", action="store_true", help="continue RUN from its last checkpoint, "
                                                           "with its saved settings")
    run.add_argument("--overwrite", action="store_true", help="replace an existing run in RUN")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_data_options(p)
    add_preset_option(p)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from vaekit.estimator import VAE
    from vaekit.io.runfolder import RunFolder
    from vaekit.pictures.run_pictures import draw_run_pictures
    from vaekit.train.distributed import World

    args = apply_preset(args)
    run = RunFolder(args.out)
    data = load_data(args.data, args)
    test = load_data(args.test, args) if args.test else None
    verbose = not args.quiet
    if args.resume:
        config = run.require().read_config()
        overrides = {"verbose": verbose} | ({"epochs": args.epochs} if args.epochs else {})
        vae = VAE.from_config(config, **overrides)
    else:
        if run.file(RunFolder.CONFIG).exists() and not args.overwrite:
            raise VaekitError(f"{run.path} already holds a run; continue it with --resume, replace it with "
                              "--overwrite, or choose another --out")
        vae = VAE(
            model=args.model, hidden=tuple(args.hidden), channels=tuple(args.channels),
            latent_dim=args.latent_dim, likelihood=args.likelihood, prior=args.prior, binarize=args.binarize,
            prior_components=args.prior_components, ladder=tuple(args.ladder), kl_schedule=args.kl_schedule,
            kl_warmup=args.kl_warmup, free_bits=args.free_bits, capacity=args.capacity,
            capacity_epochs=args.capacity_epochs, capacity_gamma=args.capacity_gamma, tc_beta=args.tc_beta,
            grad_estimator=args.grad_estimator,
            epochs=args.epochs or 100, batch_size=args.batch_size, lr=args.lr,
            lr_schedule=args.lr_schedule, beta=args.beta,
            iw_samples=args.iw_samples, val_fraction=args.val_fraction, patience=args.patience,
            seed=args.seed, device=args.device, precision=args.precision, compile=args.compile,
            workers=args.workers, verbose=verbose, column_types=dict(args.column_type) or None,
            mixture_components=args.mixture_components, res_width=args.res_width, res_blocks=args.res_blocks,
            res_stages=args.res_stages,
        )
        vae.set_params(freeze=tuple(args.freeze))
        if args.init_from:
            vae = _pretrained(vae, args.init_from)
    try:
        vae.fit(data, run_dir=run.path, resume=args.resume)
    except KeyboardInterrupt:
        print(f"vaekit: interrupted; continue with: vaekit train {args.data} --out {run.path} --resume",
              file=sys.stderr)
        return 130
    if not World.current().is_main:
        return 0  # under torchrun, rank 0 alone draws the pictures and reports
    if verbose and vae.transfer_report_ is not None:
        print(vae.transfer_report_.summary())
    pictures = draw_run_pictures(vae, test or data, run.path)
    summary = {"best_epoch": vae.best_epoch_, "epochs_run": len(vae.history_),
               "val_elbo": vae.history_[vae.best_epoch_ - 1].get("val_elbo")}
    if test is not None:
        summary["test_elbo"] = vae.score(test)
        atomic.write_text(run.file("test_metrics.json"), json.dumps(summary, indent=2) + "\n")
    if verbose:
        print(_summary_text(run.path, summary, pictures))
    return 0


def _pretrained(fresh: VAE, source: str) -> VAE:
    """The estimator for --init-from: model options the user left at their defaults follow the source run."""
    from vaekit.estimator import VAE

    defaults = VAE().get_params()
    model_params = set(estimator_params(ModelConfig))
    chosen = {k: v for k, v in fresh.get_params().items() if k not in model_params or v != defaults[k]}
    return VAE.from_pretrained(source, **chosen)


def _summary_text(path: Path, summary: dict, pictures: list[Path]) -> str:
    lines = [f"run folder: {path}",
             f"best epoch {summary['best_epoch']} of {summary['epochs_run']}"]
    if summary["val_elbo"] is not None:
        lines.append(f"validation ELBO: {summary['val_elbo']:.3f} nats per example")
    if "test_elbo" in summary:
        lines.append(f"test ELBO:       {summary['test_elbo']:.3f} nats per example")
    lines.append("pictures: " + ", ".join(p.name for p in pictures))
    return "\n".join(lines)
