"""What an option is: its name, type, default, help text and checks, declared once.

An :class:`Option` is at once a parameter of :class:`vaekit.VAE` (and of ``VAEImputer``), a flag of
``vaekit train`` and, most often, a field of a configuration dataclass, declared on that field with
:func:`option`. Everything else is derived from it: the estimators' signatures and docstrings, the
command line's flags and help, and the checks, whose messages name the parameter
(``epochs must be at least 1``). :class:`OptionError` lists the names a message uses, so that the
command line can show its flags instead (``--epochs must be at least 1``).

This module imports nothing heavy: ``vaekit --help`` builds its flags from here.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import numbers
import os
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vaekit.errors import ConfigError

#: The groups options are shown in (``vaekit train --help``), in this order.
GROUPS = {
    "model": "model",
    "optimisation": "optimisation",
    "latent": "latent space (KL levers; README: Better latent spaces)",
    "transfer": "transfer learning",
    "imputation": "imputation (tables with missing cells)",
}

#: ``config_default`` when a configuration holds the option's own default.
_SAME: Any = type("SameAsDefault", (), {"__repr__": lambda self: "<same as default>"})()


class OptionError(ConfigError):
    """A bad option value or combination; ``params`` are the parameter names its message uses.

    The library shows the message as written, in parameter names; the command line rewrites each
    of ``params`` into its flag (:meth:`worded`).
    """

    def __init__(self, message: str, *params: str) -> None:
        super().__init__(message)
        self.params = params

    def worded(self, name_of: Callable[[str], str]) -> str:
        """The message with each of ``params`` replaced by ``name_of(param)``, e.g. its flag.

        ``name='value'`` becomes ``name_of(name) value``: ``prior='normal'`` reads ``--prior normal``.
        A name inside a path or file name (``tuning/space.json``) is left alone.
        """
        if not self.params:
            return str(self)
        names = "|".join(map(re.escape, self.params))
        pattern = re.compile(rf"(?<![\w/\\.-])({names})(?:=(?:'([^']*)'|([\w.+-]+)))?(?![\w-]|[./\\]\w)")

        def word(m: re.Match) -> str:
            value = m[2] if m[2] is not None else m[3]
            return name_of(m[1]) + ("" if value is None else f" {value}")

        return pattern.sub(word, str(self))


@dataclass(frozen=True)
class Option:
    """One parameter: what it is called, holds and defaults to, how it is checked and shown."""

    name: str
    default: Any
    help: str
    #: The type of one value: int, float, str or bool; None for a value checked elsewhere.
    type: type | None = None
    #: The allowed values (besides ``"auto"`` where :attr:`auto`), in the order they are listed.
    choices: tuple[Any, ...] = ()
    #: Ranges: ``at_least`` (inclusive), ``positive`` (above 0), ``below`` (exclusive).
    at_least: float | None = None
    positive: bool = False
    below: float | None = None
    #: ``"+"`` or ``"*"``: a tuple of values (given as several words on the command line).
    nargs: str | None = None
    #: ``"auto"`` is accepted and resolved once the data is known (``vaekit.config.configs.resolve_auto``).
    auto: bool = False
    #: Where it is shown: a key of :data:`GROUPS`; its flag (``--latent-dim`` unless given; "" for none);
    #: the flag's metavar; a parser for one word of the flag; ``repeat``: each use of the flag adds a
    #: ``(key, value)`` pair and the value is their mapping.
    group: str = "model"
    flag: str | None = None
    metavar: str | None = None
    parse_word: Callable[[str], Any] | None = None
    repeat: bool = False
    #: The type as the docstring names it, where :attr:`type` does not say it (a value checked elsewhere).
    type_doc: str = ""
    #: The configuration field it sets (``section`` "model" or "train"; "" for none) and the value a
    #: configuration holds when built without it, where that differs from ``default`` (configurations
    #: hold resolved values: ``likelihood="auto"`` becomes "bernoulli" or "gaussian").
    section: str = ""
    field: str = ""
    config_default: Any = _SAME

    @property
    def cli_flag(self) -> str:
        """The command-line flag ("" if the command line does not have one)."""
        return "--" + self.name.replace("_", "-") if self.flag is None else self.flag

    @property
    def optional(self) -> bool:
        return self.default is None or self.config_default is None

    # -- checks --------------------------------------------------------------------------------------
    def check(self, value: Any, resolved: bool = False) -> Any:
        """``value`` checked and in its plain type (tuples for sequences, str for paths); else an OptionError.

        ``resolved``: for a configuration, which holds what ``"auto"`` resolved to, never ``"auto"``.
        """
        if value is None and self.optional:
            return None
        if self.auto and not resolved and isinstance(value, str) and value == "auto":
            return value
        if self.type is None:
            return value
        if self.nargs:
            items = (value,) if isinstance(value, str | os.PathLike) else value
            try:
                return tuple(self._one(v, resolved) for v in items)
            except TypeError:
                raise OptionError(f"{self.name} must be a sequence of {self._kind(plural=True)}, got {value!r}",
                                  self.name) from None
        return self._one(value, resolved)

    def _one(self, value: Any, resolved: bool) -> Any:
        value = self._typed(value)
        if self.choices and value not in self.choices:
            raise OptionError(f"unknown {self.name} {value!r}; choose one of {self._listed(resolved)}", self.name)
        limit = self._range()
        if limit and not (
            (self.at_least is None or value >= self.at_least)
            and (not self.positive or value > 0)
            and (self.below is None or value < self.below)
        ):
            raise OptionError(f"{self.name} must be {limit}, got {value}", self.name)
        return value

    def _typed(self, value: Any) -> Any:
        kind = self.type
        if kind is bool and isinstance(value, bool | np.bool_):
            return bool(value)
        if kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str | os.PathLike):
            return os.fspath(value)
        raise OptionError(f"{self.name} must be {self._kind()}, got {value!r}", self.name)

    def _kind(self, plural: bool = False) -> str:
        words = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings"),
                 bool: ("True or False", "booleans")}[self.type]
        text = words[plural]
        if self.auto and not plural:
            text += " or 'auto'"
        return text + (" or None" if self.optional else "")

    def _listed(self, resolved: bool = False) -> str:
        return ", ".join(map(str, (("auto",) if self.auto and not resolved else ()) + self.choices))

    def _range(self) -> str:
        if self.at_least is not None and self.below is not None:
            return f"in [{self.at_least:g}, {self.below:g})"
        if self.positive:
            return "positive"
        if self.at_least is not None:
            return "non-negative" if self.at_least == 0 else f"at least {self.at_least:g}"
        return ""

    # -- the command line ----------------------------------------------------------------------------
    def parse(self, word: str) -> Any:
        """One word of the flag as a value (argparse's ``type``)."""
        if self.auto and word == "auto":
            return word
        if self.parse_word is not None:
            return self.parse_word(word)
        if self.type is bool:
            flags = {"yes": True, "true": True, "no": False, "false": False}
            if word.lower() in flags:
                return flags[word.lower()]
        else:
            try:
                return self.type(word)
            except (TypeError, ValueError):
                pass
        raise argparse.ArgumentTypeError(f"expected {self._kind()}, got {word!r}")

    # -- documentation -------------------------------------------------------------------------------
    def doc_type(self) -> str:
        """numpydoc's type of the parameter, e.g. ``{"mlp", "conv"}`` or ``int or "auto"``."""
        if self.type_doc:
            text = self.type_doc
        elif self.choices:
            text = "{" + ", ".join(repr(c) for c in (("auto",) if self.auto else ()) + self.choices) + "}"
        else:
            base = {int: "int", float: "float", str: "str", bool: "bool"}[self.type]
            text = f"tuple of {base}" if self.nargs else base
            if self.auto:
                text += " or 'auto'"
        return text + (" or None" if self.optional else "")


def as_word(value: Any) -> str:
    """A value as it is written on the command line: ``(128, 128)`` is ``128 128``, True is ``yes``."""
    if isinstance(value, tuple):
        return " ".join(map(str, value))
    return {True: "yes", False: "no"}[value] if isinstance(value, bool) else str(value)


def option(default: Any, help: str, **declared: Any) -> Any:
    """A configuration field that is an option: ``latent_dim: int = option(20, "size of the code z", ...)``.

    The field's own default is ``config_default`` where given, else ``default``; its name becomes the
    option's (``name=`` gives the parameter another name, as ``arch`` is the parameter ``model``).
    """
    spec = Option(declared.pop("name", ""), default, help, **declared)
    field_default = default if spec.config_default is _SAME else spec.config_default
    return dataclasses.field(default=field_default, metadata={"option": spec})


def field_options(cls: type, section: str) -> tuple[Option, ...]:
    """The options declared on a configuration dataclass's fields, completed with their field names."""
    found = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("option")
        if spec is not None:
            found.append(dataclasses.replace(spec, name=spec.name or f.name, section=section, field=f.name))
    return tuple(found)


def check_fields(config: Any, options: Iterable[Option]) -> None:
    """Check and normalise a configuration's option fields in place (configurations hold resolved values)."""
    for spec in options:
        setattr(config, spec.field, spec.check(getattr(config, spec.field), resolved=True))


# -- estimators built from options ---------------------------------------------------------------------
def stored_init(defaults: Mapping[str, Any], owner: str) -> Callable[..., None]:
    """An ``__init__`` that stores each keyword parameter (scikit-learn's rule: checks wait for ``fit``).

    Its ``__signature__`` lists the parameters with their defaults, which is what scikit-learn's
    ``get_params``, ``clone`` and ``repr`` (and ``help()``) read.
    """
    defaults = dict(defaults)

    def __init__(self: Any, **params: Any) -> None:
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    keyword = inspect.Parameter.KEYWORD_ONLY
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, keyword, default=value) for name, value in defaults.items()])
    __init__.__qualname__ = f"{owner}.__init__"
    return __init__


def parameters_doc(options: Iterable[Option], defaults: Mapping[str, Any] | None = None) -> str:
    """A numpydoc "Parameters" section for ``options`` (``defaults`` overriding theirs)."""
    lines = ["Parameters", "----------"]
    for spec in options:
        default = (defaults or {}).get(spec.name, spec.default)
        lines.append(f"{spec.name} : {spec.doc_type()}, default={default!r}")
        text = spec.help + ("" if spec.cli_flag == "" else f" (command line: ``{spec.cli_flag}``)")
        lines.extend(textwrap.wrap(text, 100, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)
