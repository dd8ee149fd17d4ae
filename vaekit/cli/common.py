"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaekit.config.options import GROUPS, Option, OptionError, as_word
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


def add_option_flags(parser: argparse.ArgumentParser, options: Iterable[Option], *, title: str | None = None,
                     defaults: Mapping[str, Any] | None = None) -> None:
    """A flag for each option that has one, in its group, with its type, choices, help and default.

    The flags record only what the user typed (argparse's SUPPRESS default; the help shows the
    option's default), so :func:`given_options` tells an explicit ``--lr 1e-3`` from the default,
    and presets or the imputation defaults can fill what was not given. ``title`` puts the flags in
    one group of that title; ``defaults`` are the command's own, shown where they replace the options'.
    """
    options = [spec for spec in options if spec.cli_flag]
    defaults = defaults or {}
    groups: dict[str, Any] = {}
    for spec in options:
        group = title or GROUPS[spec.group]
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        groups[group].add_argument(spec.cli_flag, dest=spec.name, default=argparse.SUPPRESS,
                                   help=_flag_help(spec, defaults.get(spec.name, spec.default)), **_flag_kind(spec))
    parser.set_defaults(option_specs={spec.name: spec for spec in options})


def name_flags(parser: argparse.ArgumentParser, actions: Iterable[argparse.Action]) -> None:
    """Errors naming a library parameter show the flag of the action whose ``dest`` it is (:func:`in_flags`)."""
    parser.set_defaults(param_flags={action.dest: action.option_strings[0] for action in actions})


def _flag_kind(spec: Option) -> dict[str, Any]:
    if spec.type is bool and not spec.auto and spec.default is False:
        return {"action": "store_true"}
    kind: dict[str, Any] = {"type": spec.parse, "metavar": spec.metavar}
    if spec.auto and not spec.choices and spec.type is not bool:
        kind["metavar"] = f"{spec.metavar or spec.name.upper()}|auto"
    if spec.choices:
        kind["choices"] = (*(("auto",) if spec.auto else ()), *spec.choices)
    elif spec.type is bool:
        kind["metavar"] = "{auto,yes,no}" if spec.auto else "{yes,no}"
    if spec.nargs:
        kind["nargs"] = spec.nargs
    if spec.repeat:
        kind["action"] = "append"
    return kind


def _flag_help(spec: Option, default: Any) -> str:
    shown = "" if default is None or default is False else f" (default: {as_word(default) or 'none'})"
    return (spec.help + shown).replace("%", "%%")


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line (by :func:`add_option_flags`' flags), as parameter values."""
    given = {}
    for name, spec in getattr(args, "option_specs", {}).items():
        if hasattr(args, name):
            value = getattr(args, name)
            given[name] = dict(value) if spec.repeat else tuple(value) if spec.nargs else value
    return given


def in_flags(err: VaekitError, args: argparse.Namespace) -> str:
    """An error's message as the command line says it: the options it names, by their flags."""
    flags = {**getattr(args, "param_flags", {}),
             **{name: spec.cli_flag for name, spec in getattr(args, "option_specs", {}).items()}}
    if isinstance(err, OptionError) and flags:
        return err.worded(lambda name: flags.get(name, name))
    return str(err)


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


def load_data(spec: str, args: argparse.Namespace, allow_missing: bool | None = None,
              labels_from: str = "labels") -> Dataset:
    """Data as the reading options say; ``allow_missing`` overrides ``--allow-missing``.

    ``labels_from`` names the option that holds this data's labels file: DATA's is ``--labels``; other
    data has its own (``vaekit train --test-labels``), since labels belong to one data set.
    """
    from vaekit.data import load_dataset

    allow = args.allow_missing if allow_missing is None else allow_missing
    return load_dataset(spec, labels=getattr(args, labels_from), label_column=args.label_column,
                        resize=args.resize, mmap=args.mmap, allow_missing=allow)


def load_run_and_data(args: argparse.Namespace) -> tuple[VAE, Dataset]:
    """The model in RUN and DATA (with ``--factors`` where the command has it), refused if they do not fit."""
    from vaekit.data.factors import with_factors
    from vaekit.estimator import load

    vae = load(args.run_dir)
    data = load_data(args.data, args)
    if getattr(args, "factors", None):
        data = with_factors(data, args.factors)
    return vae, vae.preprocessor_.check(data)


def check_output(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise VaekitError(f"--out {path}: choose a file ending in {' or '.join(suffixes)}")
    return path
