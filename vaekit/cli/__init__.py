"""The ``vaekit`` command line: one module per command in this package.

A module that defines ``register(subparsers)`` adds its sub-command(s); ``ORDER`` (default
100) places it in ``--help``. Adding a command means adding a module, nothing else.

Every command module is imported to build the parser, so ``vaekit --help`` costs what their
top-level imports cost: import only light modules there (``vaekit.cli.common``, ``vaekit.config.configs``,
``vaekit.errors``, ...) and torch, scikit-learn, pandas or matplotlib, and the vaekit modules
that use them, inside the function that runs the command (``tests/test_cli.py`` checks).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
from types import ModuleType

from vaekit.cli.common import in_flags
from vaekit.errors import VaekitError
from vaekit.version import __version__

DESCRIPTION = """\
Variational autoencoders for your images and tables.

A typical session:
  vaekit train digits --out runs/digits        # train; writes a run folder with pictures
  vaekit evaluate runs/digits digits           # ELBO, importance-weighted NLL, active units
  vaekit sample runs/digits -n 64 --out s.png  # new examples
  vaekit report runs/digits digits --out r.html # what it learned, as pictures on one page
  vaekit info runs/digits                      # what a run folder holds

DATA is a built-in name (digits, mnist5k, breast_cancer, wine, diabetes, shapes) or a path:
.npy/.npz arrays, .csv/.parquet tables, a folder of PNG/JPEG images, or MNIST-style IDX files.
Run `vaekit COMMAND --help` for each command's options.
"""


def command_modules() -> list[ModuleType]:
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    return sorted((m for m in modules if hasattr(m, "register")), key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaekit", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.run(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at interpreter exit
        return status
    except BrokenPipeError:  # the reader left early (`vaekit dims RUN DATA | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit-time flush must not fail again
        return 128 + signal.SIGPIPE
    except VaekitError as err:  # the library names parameters (epochs); the command line, flags (--epochs)
        print(f"vaekit: error: {in_flags(err, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vaekit: interrupted", file=sys.stderr)
        return 130
