"""The VAE's encoder and decoder evaluated in exact integer arithmetic.

Floating-point network outputs differ between machines (and between batch sizes) in the
last bits, and one differing bit in a probability table makes an entropy decoder produce
garbage from then on. Here every weight is rounded to an integer (a per-layer power-of-two
scale) and every activation to a fixed-point integer (``FRAC_BITS`` fractional bits). The
products and sums are then carried out in float64, which is exact for integers as long as
every partial sum stays below 2**53, whatever order BLAS or a convolution kernel adds them
in. The bits of each layer are budgeted so that bound holds: activations are clamped to
``ACT_BITS`` bits and weights get about ``51 - ACT_BITS - log2(fan_in)`` bits. Rescaling between
layers is a multiplication by a power of two and a floor, also exact. So the outputs are
the same integers on any machine, for any batch size. The ladder's smooth parts (ELU, the
soft bound on log-variances, precision weighting) use :mod:`fixedpoint`'s tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.compression.fixedpoint import FRAC_BITS, PROB_BITS, bounded_logvar, elu_negative, sigmoid, softplus
from vaekit.errors import ModelFileError
from vaekit.model.ladder import LOGVAR_BOUND, LadderVAEModule, ResidualBlock, TakeFirst
from vaekit.model.markov_ladder import MarkovLadderVAEModule
from vaekit.model.module import VAEModule
from vaekit.model.networks import MLP, Unflatten

#: The models whose encoder and decoder ``ExactNetwork`` evaluates (sequences of its supported layers).
EXACT_ARCHITECTURES = ("mlp", "conv")
#: Activations are clamped to this many bits (with FRAC_BITS fractional bits: |a| <= 4096).
ACT_BITS = 28
_ACT_LIMIT = float(1 << ACT_BITS)
#: Every exact partial sum stays below 2**_EXACT_BITS (float64 has a 53-bit significand).
_EXACT_BITS = 52


@dataclass
class _QuantizedLayer:
    """A linear or (transposed) convolution layer with integer weights ``w / 2**shift``."""

    kind: type[nn.Module]
    weight: Tensor
    bias: Tensor | None
    shift: int
    options: dict


def _fan_in(layer: nn.Module) -> int:
    w = layer.weight
    if isinstance(layer, nn.ConvTranspose2d):
        return w.shape[0] * w.shape[2] * w.shape[3]
    return math.prod(w.shape[1:])


def _exponent(values: Tensor) -> int:
    """The smallest e with every |value| < 2**e (0 for all zeros)."""
    largest = float(values.abs().max())
    return math.frexp(largest)[1] if largest > 0 else 0


def _quantize(layer: nn.Module) -> _QuantizedLayer:
    """Integer weights with as many bits as the exactness budget allows; the bias at the sum's scale."""
    weight = layer.weight.detach().cpu().double()
    # |sum of products| < fan_in * 2**weight_bits * 2**ACT_BITS <= 2**(_EXACT_BITS - 1)
    weight_bits = _EXACT_BITS - 1 - ACT_BITS - math.ceil(math.log2(_fan_in(layer)))
    shift = weight_bits - _exponent(weight)
    bias = None
    if layer.bias is not None:
        bias = layer.bias.detach().cpu().double()
        shift = min(shift, _EXACT_BITS - 2 - FRAC_BITS - _exponent(bias))  # |bias| < 2**(_EXACT_BITS - 2)
        bias = torch.round(bias * 2.0 ** (shift + FRAC_BITS))
    options: dict = {}
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        options = {"stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation,
                   "groups": layer.groups}
        if isinstance(layer, nn.ConvTranspose2d):
            options["output_padding"] = layer.output_padding
    return _QuantizedLayer(type(layer), torch.round(weight * 2.0**shift), bias, shift, options)


def _layers(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _layers(child)]
    if isinstance(module, MLP):
        return module.steps()
    return [module]


_RESHAPES = (nn.Flatten, Unflatten, TakeFirst)
_WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def table_of(table: Callable[[np.ndarray], np.ndarray], a: Tensor) -> Tensor:
    """A fixedpoint table applied to fixed-point integers held in a float64 tensor (exact both ways)."""
    return torch.from_numpy(table(a.numpy().astype(np.int64)).astype(np.float64))


def _elu(a: Tensor) -> Tensor:
    return torch.where(a > 0, a, table_of(elu_negative(), a.clamp(min=-(16 << FRAC_BITS), max=0)))


class ExactNetwork:
    """A sequence of Linear / Conv2d / ConvTranspose2d / ReLU / ELU / residual / reshape layers, in integers."""

    def __init__(self, network: nn.Module) -> None:
        self.steps: list[nn.Module | _QuantizedLayer | ExactNetwork] = []
        for layer in _layers(network):
            if isinstance(layer, _WEIGHTED):
                if isinstance(layer, nn.Conv2d) and layer.padding_mode != "zeros":
                    raise ModelFileError("exact evaluation supports zero-padded convolutions only")
                self.steps.append(_quantize(layer))
            elif isinstance(layer, ResidualBlock):
                self.steps.append(ExactNetwork(layer.body))  # h + body(h): a sum of integers, exact
            elif isinstance(layer, nn.ELU) and layer.alpha == 1.0:
                self.steps.append(layer)
            elif isinstance(layer, (nn.ReLU, *_RESHAPES)):
                self.steps.append(layer)
            else:
                raise ModelFileError(
                    f"compression cannot evaluate a {type(layer).__name__} layer exactly; "
                    "it supports MLP and conv VAEs built by vaekit"
                )

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        """Fixed-point integers in (as a float64 or int64 tensor), fixed-point integers out (float64)."""
        a = x.to(torch.float64).clamp(-_ACT_LIMIT, _ACT_LIMIT)
        for step in self.steps:
            if isinstance(step, _QuantizedLayer):
                a = self._affine(step, a)
            elif isinstance(step, ExactNetwork):
                a = (a + step(a)).clamp(-_ACT_LIMIT, _ACT_LIMIT)
            elif isinstance(step, nn.ReLU):
                a = a.clamp_min(0)
            elif isinstance(step, nn.ELU):
                a = _elu(a)
            else:
                a = step(a)
        return a

    @staticmethod
    def _affine(step: _QuantizedLayer, a: Tensor) -> Tensor:
        if step.kind is nn.Linear:
            acc = F.linear(a, step.weight, step.bias)
        elif step.kind is nn.Conv2d:
            acc = F.conv2d(a, step.weight, step.bias, **step.options)
        else:
            acc = F.conv_transpose2d(a, step.weight, step.bias, **step.options)
        # Integer inputs and weights with bounded sums give integer sums; anything else means a
        # kernel used an inexact algorithm, and the tables built from it would not be portable.
        if not torch.equal(acc, torch.round(acc)):
            raise RuntimeError("a network kernel did not compute exactly; exact compression is unsafe here")
        return torch.floor(acc * 2.0**-step.shift + 0.5).clamp(-_ACT_LIMIT, _ACT_LIMIT)


class ExactVAE:
    """Integer encoder and decoder of a single-layer VAE: what both ends of a codec agree on."""

    def __init__(self, module: VAEModule) -> None:
        self.config = module.config
        self.latent_dim = module.latent_dim
        self.sizes = (module.latent_dim,)
        self.encoder = ExactNetwork(module.encoder)
        self.decoder = ExactNetwork(module.decoder)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, fixed point, for fixed-point inputs ``[batch, *input_shape]``."""
        if self.config.mask_input:
            x = torch.cat([x, torch.full_like(x, 1 << FRAC_BITS)], dim=1)
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Likelihood parameters, fixed point, ``[batch, n_params, *input_shape]``."""
        return self.decoder(z)


def _split_gaussian(raw: Tensor) -> tuple[Tensor, Tensor]:
    """``ladder.gaussian_params`` in fixed point: a mean and a softly bounded log-variance."""
    mu, logvar = raw.chunk(2, dim=-1)
    return mu.contiguous(), table_of(bounded_logvar(LOGVAR_BOUND), logvar.contiguous())


#: Fractional bits of the precision weights (means stay below 2**(6 + FRAC_BITS): products below 2**47).
_WEIGHT_BITS = 24
_MEAN_LIMIT = float(64 << FRAC_BITS)


def precision_weighted(mu_a: Tensor, logvar_a: Tensor, mu_b: Tensor, logvar_b: Tensor) -> tuple[Tensor, Tensor]:
    """``ladder.precision_weighted`` in fixed point, through softplus and sigmoid tables.

    log var = -logaddexp(-a, -b) = a - softplus(a - b); mu = w mu_a + (1 - w) mu_b with
    w = var / var_a = sigmoid(b - a).
    """
    logvar = logvar_a - table_of(softplus(), logvar_a - logvar_b)
    weight = table_of(lambda t: sigmoid()(t) >> (PROB_BITS - _WEIGHT_BITS), logvar_b - logvar_a)
    mu_a, mu_b = mu_a.clamp(-_MEAN_LIMIT, _MEAN_LIMIT), mu_b.clamp(-_MEAN_LIMIT, _MEAN_LIMIT)
    mu = torch.floor((weight * mu_a + ((1 << _WEIGHT_BITS) - weight) * mu_b) * 2.0**-_WEIGHT_BITS)
    return mu, logvar


class ExactLadder:
    """Integer parts of a ladder VAE (``ladder.LadderVAEModule``), found by their submodule names.

    ``evidence`` is the bottom-up pass and ``conditional`` the generative p(z_l | z_{l+1});
    :func:`precision_weighted` merges the two into q(z_l | z_{l+1}, x); ``decode`` reads z_1.
    """

    def __init__(self, module: LadderVAEModule) -> None:
        self.config = module.config
        self.sizes = tuple(module.sizes)
        self.latent_dim = sum(self.sizes)
        self.trunk = ExactNetwork(module.encoder)
        self.bottom_up = [ExactNetwork(block) for block in module.bottom_up]
        self.evidence_heads = [ExactNetwork(head) for head in module.evidence]
        self.top_down = [ExactNetwork(head) for head in module.prior.top_down]
        self.decoder = ExactNetwork(module.decoder)

    def evidence(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Bottom-up Gaussian evidence (mean, log-variance) of every layer, bottom first, fixed point."""
        if self.config.mask_input:
            x = torch.cat([x, torch.full_like(x, 1 << FRAC_BITS)], dim=1)
        h = self.trunk(x)
        out = []
        for block, head in zip(self.bottom_up, self.evidence_heads, strict=True):
            h = block(h)
            out.append(_split_gaussian(head(h)))
        return out

    def conditional(self, layer: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of p(z_layer | z_{layer+1}), fixed point."""
        return _split_gaussian(self.top_down[layer](z_above))

    def decode(self, z1: Tensor) -> Tensor:
        """Likelihood parameters from z_1 (or the whole code: the decoder takes its first features)."""
        return self.decoder(z1)



class ExactMarkovLadder:
    """Integer parts of a ladder with bottom-up Markov inference (``markov_ladder.MarkovLadderVAEModule``).

    ``posterior`` gives q(z_1 | x) and q(z_{l+1} | z_l), ``conditional`` the generative p(z_l | z_{l+1})
    and ``decode`` p(x | z_1): the pieces Bit-Swap interleaves, each a function of one layer only.
    """

    def __init__(self, module: MarkovLadderVAEModule) -> None:
        self.config = module.config
        self.sizes = tuple(module.sizes)
        self.latent_dim = sum(self.sizes)
        self.trunk = ExactNetwork(module.encoder)
        self.posterior_heads = [ExactNetwork(head) for head in module.posterior]
        self.top_down = [ExactNetwork(head) for head in module.prior.top_down]
        self.decoder = ExactNetwork(module.decoder)

    def posterior(self, layer: int, below: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z_layer | below), fixed point: ``below`` is x for layer 0, else z_{layer-1}."""
        if layer == 0:
            if self.config.mask_input:
                below = torch.cat([below, torch.full_like(below, 1 << FRAC_BITS)], dim=1)
            below = self.trunk(below)
        return _split_gaussian(self.posterior_heads[layer](below))

    def conditional(self, layer: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of p(z_layer | z_{layer+1}), fixed point."""
        return _split_gaussian(self.top_down[layer](z_above))

    def decode(self, z1: Tensor) -> Tensor:
        """Likelihood parameters from z_1 (or the whole code: the decoder takes its first features)."""
        return self.decoder(z1)
