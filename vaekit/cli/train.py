"""``vaekit train``: fit a VAE and write a run folder."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaekit.cli.common import add_data_options, add_option_flags, add_parser, data_help, given_options, load_data
from vaekit.config.configs import OPTIONS, check_params
from vaekit.config.options import OptionError, as_word
from vaekit.config.presets import IMPUTATION_DEFAULTS, PRESETS, SELF_TUNE, preset_params
from vaekit.errors import ConfigError, VaekitError
from vaekit.io import atomic

if TYPE_CHECKING:
    from vaekit.data import Dataset
    from vaekit.estimator import VAE
    from vaekit.missing_data.selftune import SelfTuning

ORDER = 10

#: The options ``--resume`` takes: they change how the run goes on, not what it is.
RESUMABLE = ("epochs", "device", "workers")


def _as_flags(params: dict[str, Any]) -> str:
    return ", ".join(f"{OPTIONS[name].cli_flag} {as_word(value)}" for name, value in params.items())


DESCRIPTION = f"""\
Train a VAE on DATA and write the run folder RUN: config.json, model.safetensors (the best
weights by validation ELBO), preprocessing.json, metrics.jsonl (one line per epoch),
checkpoints/ and pictures (samples.png, reconstructions.png, loss.png).

The objective is the ELBO = E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)); with --iw-samples K > 1
it is the tighter importance-weighted bound (IWAE). Training stops early when the validation
ELBO has not improved for --patience epochs. An interrupted run continues with --resume.

{textwrap.fill(
    "Options you give always win. Those you leave out take the value of --preset where it names them; then, "
    "for a table with missing cells (read with --allow-missing), the defaults for imputing a table, as "
    f"VAEImputer's ({_as_flags(IMPUTATION_DEFAULTS)}), and self-tuning, which writes RUN/self_tuning.json; "
    "then the defaults shown below.", 95)}

examples:
  vaekit train digits --out runs/digits
  vaekit train mnist5k --preset fast --out runs/fast           # a tested configuration; flags override it
  vaekit train mnist5k --kl-schedule linear --kl-warmup 10 --prior vamp --out runs/vamp
  vaekit train images/ --resize 32x32 --model conv --likelihood logistic --out runs/faces
  vaekit train table.csv --label-column species --latent-dim 4 --out runs/table
  vaekit train train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \\
      --test t10k-images-idx3-ubyte.gz --test-labels t10k-labels-idx1-ubyte.gz --out runs/mnist
  vaekit train survey.csv --allow-missing --out runs/survey   # gaps: the imputation defaults
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
    p.add_argument("--test", metavar="TEST", help="held-out data to evaluate on after training (read with the "
                                                  "same options as DATA)")
    p.add_argument("--test-labels", metavar="FILE", help="labels for TEST (--labels are DATA's)")
    add_option_flags(p, [*OPTIONS.values(), SELF_TUNE])
    run = p.add_argument_group("run")
    presets = "; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
    run.add_argument("--preset", metavar="NAME", help=f"a tested configuration ({presets}); options you give "
                                                      "explicitly override it")
    run.add_argument("--resume", action="store_true", help="continue RUN from its last checkpoint, with its "
                                                           f"saved settings (and any of {_flags(RESUMABLE)})")
    run.add_argument("--overwrite", action="store_true", help="replace an existing run in RUN")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_data_options(p)
    p.set_defaults(run=run_train)


def _flags(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(OPTIONS[name].cli_flag for name in names)


def run_train(args: argparse.Namespace) -> int:
    from vaekit.estimator import VAE
    from vaekit.io.runfolder import RunFolder
    from vaekit.pictures.run_pictures import draw_run_pictures
    from vaekit.train.distributed import World

    given = given_options(args)
    tune_choice = SELF_TUNE.check(given.pop(SELF_TUNE.name)) if SELF_TUNE.name in given else None
    given = check_params(given)  # a bad value fails before any data is read
    run = RunFolder(args.out)
    verbose = not args.quiet
    if args.resume:
        if args.preset or tune_choice is not None:
            raise ConfigError("--preset and --self-tune are for new runs; --resume continues with the run's saved "
                              "settings")
        if fixed := sorted(set(given) - set(RESUMABLE)):
            raise ConfigError(f"--resume continues with the run's saved settings; of the options it takes only "
                              f"{_flags(RESUMABLE)}, not {_flags(fixed)}")
        config = run.require().read_config()
    elif run.file(RunFolder.CONFIG).exists() and not args.overwrite:
        raise VaekitError(f"{run.path} already holds a run; continue it with --resume, replace it with "
                          "--overwrite, or choose another --out")
    data = load_data(args.data, args)
    test = load_data(args.test, args, labels_from="test_labels") if args.test else None
    tuning = None
    if args.resume:
        vae = VAE.from_config(config, **given, verbose=verbose)
    else:
        vae = _new_estimator(given, args.preset, data, verbose)
        if _self_tunes(tune_choice, data, vae):
            tuning = _self_tuned(vae, data, verbose)
    try:
        vae.fit(data, run_dir=run.path, resume=args.resume)
    except KeyboardInterrupt:
        print(f"vaekit: interrupted; continue with: vaekit train {args.data} --out {run.path} --resume",
              file=sys.stderr)
        return 130
    if not World.current().is_main:
        return 0  # under torchrun, rank 0 alone draws the pictures and reports
    if tuning is not None:
        atomic.write_text(run.file("self_tuning.json"), json.dumps(tuning.to_json(), indent=2) + "\n")
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


def _new_estimator(given: dict[str, Any], preset: str | None, data: Dataset, verbose: bool) -> Any:
    """The estimator of a new run: options given, else the preset's, else (a table with gaps) the imputation
    defaults, else the defaults. With --init-from, model options left at their defaults follow that run."""
    from vaekit.estimator import VAE

    chosen = {**(preset_params(preset) if preset else {}), **given}
    if _has_gaps(data):
        imputing = {k: v for k, v in IMPUTATION_DEFAULTS.items() if k not in chosen}
        if verbose and imputing:
            print(f"{data.source} has missing cells: the defaults for imputing a table apply ({_as_flags(imputing)})")
        chosen = {**imputing, **chosen}
    if chosen.get("init_from") is None:
        return VAE(**chosen, verbose=verbose)
    training = {name: spec.default for name, spec in OPTIONS.items() if spec.section == "train"}
    return VAE.from_pretrained(chosen["init_from"], **{**training, **chosen, "verbose": verbose})


def _has_gaps(data: Dataset) -> bool:
    """Whether DATA is a table in memory with missing cells: the imputation defaults and self-tuning apply."""
    from vaekit.data.missing import observed_mask
    from vaekit.data.out_of_core import is_out_of_core

    return data.kind == "table" and not is_out_of_core(data.x) and observed_mask(data) is not None


def _self_tunes(choice: bool | None, data: Dataset, vae: VAE) -> bool:
    """--self-tune as given, else on for a table with gaps (not when starting from a run, whose widths it keeps)."""
    from vaekit.data.out_of_core import is_out_of_core

    if choice is None:
        return _has_gaps(data) and vae.init_from is None
    if choice and (data.kind != "table" or is_out_of_core(data.x) or vae.init_from is not None):
        raise OptionError("self_tune chooses the widths on a table in memory; it does not take images, --mmap or "
                          "init_from", "self_tune", "init_from")
    return choice


def _self_tuned(vae: VAE, data: Dataset, verbose: bool) -> SelfTuning:
    """Self-tuning's choice, set on ``vae`` (VAEImputer's search: ``vaekit.missing_data.selftune``)."""
    from vaekit.missing_data.selftune import self_tune

    if verbose:
        print("self-tuning: fitting each candidate on the table with a share of its observed cells hidden")
    tuning = self_tune(vae.get_params(), data)
    vae.set_params(**tuning.selected)
    if verbose:
        errors = ", ".join(f"{as_word(c['hidden'])}: {c['error']:.3f}" for c in tuning.candidates)
        print(f"self-tuning chose --hidden {as_word(tuning.selected['hidden'])} (held-out error by width: {errors})")
    return tuning


def _summary_text(path: Path, summary: dict, pictures: list[Path]) -> str:
    lines = [f"run folder: {path}",
             f"best epoch {summary['best_epoch']} of {summary['epochs_run']}"]
    if summary["val_elbo"] is not None:
        lines.append(f"validation ELBO: {summary['val_elbo']:.3f} nats per example")
    if "test_elbo" in summary:
        lines.append(f"test ELBO:       {summary['test_elbo']:.3f} nats per example")
    lines.append("pictures: " + ", ".join(p.name for p in pictures))
    return "\n".join(lines)
