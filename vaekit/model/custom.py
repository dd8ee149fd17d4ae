"""Your own encoder and decoder: the contract, and how a configuration names and rebuilds them.

A custom network is an ``nn.Module`` whose class can be imported and which is built from
JSON-able keyword arguments, so that ``config.json`` can name it (``"module:QualName"`` plus its
kwargs) and any process can rebuild it before loading the weights from safetensors (no pickle).
Subclassing :class:`Network` records the keyword arguments it is constructed with; any other
``nn.Module`` class can be given as ``{"class": "module:QualName", "kwargs": {...}}``.

The contract, checked once when the model is built, on a batch of zeros:

- the **encoder** takes x, ``[N, *input_shape]`` (with ``mask_input``, the observation mask
  stacked on along dimension 1: twice the features or channels), and returns the diagonal
  Gaussian posterior's parameters ``(mu, logvar)``, each ``[N, latent_dim]``;
- the **decoder** takes codes z, ``[N, latent_dim]``, and returns the likelihood's parameters,
  ``[N, n_params, *input_shape]`` (``n_params``: bernoulli 1; gaussian and logistic 2; categorical
  256; logistic_mixture and mixed depend on their settings; a mismatch names the shape expected).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.config.configs import ModelConfig, check_network_spec
from vaekit.errors import ConfigError, ModelFileError


class Network(nn.Module):
    """Base class for your own encoder or decoder: it remembers the keyword arguments it was built with.

    Construct it with JSON-able arguments (numbers, strings, lists, dicts); vaekit builds its own
    copy from the class and those arguments (seeded, as it builds its own networks), so the instance
    you pass is a template and is never trained itself.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Network:
        self = super().__new__(cls)
        try:
            bound = inspect.signature(cls.__init__).bind(self, *args, **kwargs)
        except TypeError:
            bound = None  # __init__ reports the bad call itself
        if bound is not None:
            recorded: dict[str, Any] = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = bound.signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    if value:
                        raise ConfigError(f"{cls.__qualname__}: *args cannot be named in config.json; "
                                          "take keyword arguments")
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    recorded.update(value)
                else:
                    recorded[name] = value
            self.__dict__["network_kwargs"] = recorded
        return self


def network_spec(value: Any, role: str) -> dict[str, Any] | None:
    """What ``config.json`` records for the ``role`` ("encoder" or "decoder") parameter's value.

    None stays None; a :class:`Network` gives its class and recorded kwargs; a ``{"class", "kwargs"}``
    mapping is checked. The kwargs go through JSON once, so a fitted model and one loaded from its
    run folder are built from the very same arguments.
    """
    if value is None:
        return None
    if isinstance(value, Network):
        cls = type(value)
        if "<locals>" in cls.__qualname__:
            raise ConfigError(f"{role}: class {cls.__qualname__} is defined inside a function; config.json can only "
                              "name a class that can be imported (module:QualName): define it at module level")
        value = {"class": f"{cls.__module__}:{cls.__qualname__}", "kwargs": value.network_kwargs}
    elif isinstance(value, nn.Module):
        raise ConfigError(f"{role}: a {type(value).__name__} does not record the arguments it was built with; "
                          "subclass vaekit.Network, or pass {'class': 'module:QualName', 'kwargs': {...}}")
    if not isinstance(value, Mapping):
        raise ConfigError(f"{role} must be a vaekit.Network, a {{'class': 'module:QualName', 'kwargs': {{...}}}} "
                          f"mapping or None, got {value!r}")
    try:
        kwargs = json.loads(json.dumps(dict(value.get("kwargs", {})), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{role}: the kwargs of {value.get('class')} must be JSON-able ({err})") from None
    return check_network_spec(role, {"class": value.get("class"), "kwargs": kwargs})


def import_network(spec: Mapping[str, Any], role: str) -> type[nn.Module]:
    """The class a spec names; one clear :class:`ModelFileError` naming it where it cannot be imported."""
    name = spec["class"]
    module_name, _, qualname = name.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as err:
        where = ("it was defined in a script, which alone can load it; define it in a module to load it anywhere"
                 if module_name == "__main__" else "make the module that defines it importable (installed, or on "
                 "PYTHONPATH) to build this model")
        raise ModelFileError(f"the {role} class {name} cannot be imported ({err}); {where}") from None
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise ModelFileError(f"the {role} class {name} is not an nn.Module")
    return found


def build_network(spec: Mapping[str, Any], role: str) -> nn.Module:
    """The network a spec describes, freshly initialised (from the global torch seed)."""
    cls = import_network(spec, role)
    try:
        return cls(**spec["kwargs"])
    except TypeError as err:
        raise ModelFileError(f"the {role} class {spec['class']} does not take the kwargs {spec['kwargs']} "
                             f"({err})") from None


def encoder_output(out: Any) -> tuple[Tensor, Tensor]:
    """(mu, logvar) from an encoder's output: a pair as the contract says, or vaekit's ``[N, 2 * latent_dim]``."""
    if isinstance(out, tuple | list):
        mu, logvar = out
        return mu, logvar
    mu, logvar = out.chunk(2, dim=-1)
    return mu, logvar


@torch.no_grad()
def check_contract(encoder: nn.Module, decoder: nn.Module, config: ModelConfig, n_params: int) -> None:
    """Run a batch of two zeros through the networks; a ConfigError names the shape the contract wants."""
    in_shape = list(config.input_shape)
    if config.mask_input:
        in_shape[0] *= 2
    modes = [m.training for m in (encoder, decoder)]
    encoder.eval(), decoder.eval()  # no batch-norm statistics are updated by this check
    try:
        if config.encoder is not None:
            out = _tried(encoder, torch.zeros(2, *in_shape), config.encoder, "encoder")
            ok = isinstance(out, tuple | list) and len(out) == 2 and all(isinstance(t, Tensor) for t in out)
            shapes = [tuple(t.shape) for t in out] if ok else type(out).__name__
            if not ok or shapes != [(2, config.latent_dim)] * 2:
                raise ConfigError(f"encoder {config.encoder['class']} must return (mu, logvar), each of shape "
                                  f"(N, latent_dim) = (2, {config.latent_dim}) for input {(2, *in_shape)}; it "
                                  f"returned {shapes}")
        if config.decoder is not None:
            out = _tried(decoder, torch.zeros(2, config.latent_dim), config.decoder, "decoder")
            want = (2, n_params, *config.input_shape)
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            if got != want:
                raise ConfigError(f"decoder {config.decoder['class']} must return the likelihood's parameters, "
                                  f"shape (N, n_params, *input_shape) = {want} for likelihood "
                                  f"{config.likelihood!r} and codes of shape (2, {config.latent_dim}); it "
                                  f"returned {got}")
    finally:
        encoder.train(modes[0]), decoder.train(modes[1])


def _tried(network: nn.Module, x: Tensor, spec: Mapping[str, Any], role: str) -> Any:
    """The network's output for ``x``; where the user's code fails on it, a ConfigError naming the input's shape."""
    try:
        return network(x)
    except Exception as err:  # any failure inside the user's own code means the same: it breaks the contract
        raise ConfigError(f"{role} {spec['class']} fails on input of shape {tuple(x.shape)}, which the contract "
                          f"gives it ({type(err).__name__}: {err})") from err
