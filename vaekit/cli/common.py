"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from vaekit.data import BUILTIN_DATASETS, Dataset, load_dataset
from vaekit.errors import VaekitError

HELP_FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description, formatter_class=HELP_FORMATTER)


def data_help() -> str:
    builtins = ", ".join(BUILTIN_DATASETS)
    return f"a built-in dataset ({builtins}) or a path: .npy/.npz, .csv/.parquet, an image folder, or IDX"


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reading DATA")
    group.add_argument("--labels", metavar="FILE", help="labels for DATA (an IDX labels file, .npy or text)")
    group.add_argument("--label-column", metavar="COL", help="for tables: the column that holds labels (not modelled)")
    group.add_argument("--resize", metavar="HxW", type=parse_size, help="for image folders: resize every image, e.g. 32x32")


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX,](\d+)", text.strip())
    if not match or 0 in (int(match[1]), int(match[2])):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 32x32, got {text!r}")
    return int(match[1]), int(match[2])


def load_data(spec: str, args: argparse.Namespace) -> Dataset:
    return load_dataset(spec, labels=args.labels, label_column=args.label_column, resize=args.resize)


def check_output(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise VaekitError(f"--out {path}: choose a file ending in {' or '.join(suffixes)}")
    return path
