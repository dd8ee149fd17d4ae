"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from vaekit.data import BUILTIN_DATASETS
from vaekit.errors import VaekitError

# Building the parser (and so `vaekit --help`) must not import torch, scikit-learn, pandas or
# matplotlib: command modules import what a command needs inside the function that runs it.
if TYPE_CHECKING:
    from vaekit.data import Dataset
    from vaekit.estimator import VAE


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions keep their line breaks (one example per line); options show their defaults.

    An option without a default (None) or a switch (False) says nothing: "(default: None)" on a
    required option, or where the help text says what happens without it, only confuses.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description, formatter_class=HelpFormatter)


def data_help() -> str:
    builtins = ", ".join(BUILTIN_DATASETS)
    return f"a built-in dataset ({builtins}) or a path: .npy/.npz, .csv/.parquet, an image folder, or IDX"


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reading DATA")
    group.add_argument("--labels", metavar="FILE", help="labels for DATA (an IDX labels file, .npy or text)")
    group.add_argument("--label-column", metavar="COL", help="for tables: the column that holds labels (not modelled)")
    group.add_argument("--resize", metavar="HxW", type=parse_size,
                       help="for image folders: resize every image, e.g. 32x32")
    group.add_argument("--mmap", action="store_true",
                       help="for .npy files and image folders: leave DATA on disk (a memory map, images decoded "
                            "when read); `train` then streams it batch by batch, for data larger than memory")
    group.add_argument("--allow-missing", action="store_true",
                       help="keep NaN cells or pixels as missing values (the model learns from the observed ones)")


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX,](\d+)", text.strip())
    if not match or 0 in (int(match[1]), int(match[2])):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 32x32, got {text!r}")
    return int(match[1]), int(match[2])


def load_data(spec: str, args: argparse.Namespace, allow_missing: bool | None = None) -> Dataset:
    """DATA as the reading options say; ``allow_missing`` overrides ``--allow-missing``."""
    from vaekit.data import load_dataset

    allow = args.allow_missing if allow_missing is None else allow_missing
    return load_dataset(spec, labels=args.labels, label_column=args.label_column, resize=args.resize,
                        mmap=args.mmap, allow_missing=allow)


def load_run_and_data(args: argparse.Namespace) -> tuple[VAE, Dataset]:
    """The model in RUN and DATA (with ``--factors`` where the command has it), refused if they do not fit."""
    from vaekit.data.factors import with_factors
    from vaekit.estimator import load

    vae = load(args.run_dir)
    data = load_data(args.data, args)
    if getattr(args, "factors", None):
        data = with_factors(data, args.factors)
    vae.preprocessor_.check(data)
    return vae, data


def check_output(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise VaekitError(f"--out {path}: choose a file ending in {' or '.join(suffixes)}")
    return path
