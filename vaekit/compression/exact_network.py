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
soft bound on log-variances, precision weighting) and the resnet's SiLU use :mod:`fixedpoint`'s
tables; GroupNorm (:func:`group_norm`) sums integers and takes one correctly rounded square root.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.compression.fixedpoint import (
    FRAC_BITS,
    PROB_BITS,
    SILU_REACH,
    bounded_logvar,
    elu_negative,
    sigmoid,
    silu,
    softplus,
)
from vaekit.errors import ModelFileError
from vaekit.model import resnet
from vaekit.model.hierarchical import HierarchicalVAEModule
from vaekit.model.ladder import LOGVAR_BOUND, ResidualBlock, TakeFirst, TopDownVAE
from vaekit.model.markov_ladder import MarkovLadderVAEModule
from vaekit.model.module import VAEModule
from vaekit.model.networks import MLP, Unflatten

#: The models whose encoder and decoder ``ExactNetwork`` evaluates (sequences of its supported layers).
EXACT_ARCHITECTURES = ("mlp", "conv", "resnet", "hierarchical")
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


#: Integer sums of squares in GroupNorm stay below 2**_SQUARE_BITS (int64).
_SQUARE_BITS = 62
#: Most fractional bits of GroupNorm's 1/sqrt(var + eps) (fewer for a tiny eps, see ``_QuantizedNorm``).
_INV_STD_BITS = 24


@dataclass
class _QuantizedNorm:
    """A GroupNorm with integer ``gamma / 2**gamma_shift`` and fixed-point ``beta`` (per channel)."""

    groups: int
    eps: float
    inv_std_bits: int
    gamma: np.ndarray
    gamma_shift: int
    beta: np.ndarray


def _quantize_norm(layer: nn.GroupNorm) -> _QuantizedNorm:
    """Bit budgets: |deviation| < 2**(ACT_BITS + 1) times 1/sqrt(eps) at ``inv_std_bits`` stays below 2**62;
    the normalised value (clamped to ACT_BITS) times gamma also does."""
    inv_std_bits = min(_INV_STD_BITS, _SQUARE_BITS - ACT_BITS - 1 - math.ceil(-math.log2(layer.eps) / 2))
    if inv_std_bits < 8:
        raise ModelFileError(f"exact evaluation needs a GroupNorm eps of at least 2**-50, got {layer.eps}")
    channels = layer.num_channels
    gamma = layer.weight.detach().cpu().double() if layer.affine else torch.ones(channels, dtype=torch.float64)
    beta = layer.bias.detach().cpu().double() if layer.affine else torch.zeros(channels, dtype=torch.float64)
    gamma_shift = _SQUARE_BITS - 1 - ACT_BITS - _exponent(gamma)
    return _QuantizedNorm(layer.num_groups, float(layer.eps), inv_std_bits,
                          torch.round(gamma * 2.0**gamma_shift).numpy().astype(np.int64), gamma_shift,
                          torch.round(beta * 2.0**FRAC_BITS).clamp(-_ACT_LIMIT, _ACT_LIMIT).numpy().astype(np.int64))


def group_norm(norm: _QuantizedNorm, a: Tensor) -> Tensor:
    """GroupNorm of fixed-point integers ``[batch, channels, *space]``, in integers but for one square root.

    Each (example, group)'s sum is an int64 sum (exact in any order); its mean is a floor
    division. The deviations are shifted right until ``count * deviation**2`` fits in 2**62, so
    the sum of squares is exact too. That sum becomes the variance and 1/sqrt(var + eps)
    through float64 conversion, ldexp, division, addition and sqrt only: IEEE 754 rounds each
    correctly, so every machine gets the same bits (exp or log would not, hence no rsqrt).
    """
    batch, channels = a.shape[:2]
    x = a.numpy().astype(np.int64).reshape(batch, norm.groups, -1)
    count = x.shape[-1]
    mean = x.sum(-1, keepdims=True) // count
    dev = x - mean
    keep = (_SQUARE_BITS - math.ceil(math.log2(count))) // 2  # bits of a deviation that squaring may use
    top = np.frexp(np.abs(dev).max(-1, keepdims=True).astype(np.float64))[1]  # |dev| <= 2**top
    shift = np.maximum(top - keep, 0).astype(np.int64)
    squares = np.square(dev >> shift).sum(-1, keepdims=True)
    var = np.ldexp(squares.astype(np.float64), 2 * (shift - FRAC_BITS)) / count
    inv_std = np.rint(np.ldexp(1.0 / np.sqrt(var + norm.eps), norm.inv_std_bits)).astype(np.int64)
    half = 1 << (norm.inv_std_bits - 1)
    y = np.clip((dev * inv_std + half) >> norm.inv_std_bits, -_ACT_LIMIT, _ACT_LIMIT).astype(np.int64)
    y = y.reshape(batch, channels, -1)
    scaled = (y * norm.gamma[:, None] + (1 << (norm.gamma_shift - 1))) >> norm.gamma_shift
    out = np.clip(scaled + norm.beta[:, None], -_ACT_LIMIT, _ACT_LIMIT)
    return torch.from_numpy(out.astype(np.float64)).view(a.shape)


def _silu(a: Tensor) -> Tensor:
    """SiLU through its table, and exactly t or 0 past the table's reach."""
    reach = float(SILU_REACH << FRAC_BITS)
    inside = table_of(silu(), a.clamp(-reach, reach))
    return torch.where(a >= reach, a, torch.where(a <= -reach, torch.zeros_like(a), inside))


def _layers(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _layers(child)]
    if isinstance(module, MLP):
        return module.steps()
    return [module]


_RESHAPES = (nn.Flatten, nn.Unflatten, Unflatten, TakeFirst, nn.Identity)
_WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def table_of(table: Callable[[np.ndarray], np.ndarray], a: Tensor) -> Tensor:
    """A fixedpoint table applied to fixed-point integers held in a float64 tensor (exact both ways)."""
    return torch.from_numpy(table(a.numpy().astype(np.int64)).astype(np.float64))


def _elu(a: Tensor) -> Tensor:
    return torch.where(a > 0, a, table_of(elu_negative(), a.clamp(min=-(16 << FRAC_BITS), max=0)))


class ExactNetwork:
    """A sequence of Linear / Conv2d / ConvTranspose2d / GroupNorm / ReLU / ELU / SiLU / residual / reshape
    layers, in integers."""

    def __init__(self, network: nn.Module) -> None:
        self.steps: list[nn.Module | _QuantizedLayer | _QuantizedNorm | ExactNetwork] = []
        for layer in _layers(network):
            if isinstance(layer, _WEIGHTED):
                if isinstance(layer, nn.Conv2d) and layer.padding_mode != "zeros":
                    raise ModelFileError("exact evaluation supports zero-padded convolutions only")
                self.steps.append(_quantize(layer))
            elif isinstance(layer, nn.GroupNorm):
                self.steps.append(_quantize_norm(layer))
            elif isinstance(layer, (ResidualBlock, resnet.ResidualBlock)):
                self.steps.append(ExactNetwork(layer.body))  # h + body(h): a sum of integers, exact
            elif isinstance(layer, nn.ELU) and layer.alpha == 1.0:
                self.steps.append(layer)
            elif isinstance(layer, (nn.ReLU, nn.SiLU, *_RESHAPES)):
                self.steps.append(layer)
            else:
                raise ModelFileError(
                    f"compression cannot evaluate a {type(layer).__name__} layer exactly; "
                    f"it supports the {', '.join(EXACT_ARCHITECTURES)} VAEs built by vaekit"
                )

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        """Fixed-point integers in (as a float64 or int64 tensor), fixed-point integers out (float64)."""
        a = x.to(torch.float64).clamp(-_ACT_LIMIT, _ACT_LIMIT)
        for step in self.steps:
            if isinstance(step, _QuantizedLayer):
                a = self._affine(step, a)
            elif isinstance(step, _QuantizedNorm):
                a = group_norm(step, a)
            elif isinstance(step, ExactNetwork):
                a = (a + step(a)).clamp(-_ACT_LIMIT, _ACT_LIMIT)
            elif isinstance(step, nn.ReLU):
                a = a.clamp_min(0)
            elif isinstance(step, nn.ELU):
                a = _elu(a)
            elif isinstance(step, nn.SiLU):
                a = _silu(a)
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


class ExactGenerative:
    """The integer generative half every multi-layer model shares: p(z_l | z_{l+1}) and p(x | z_1)."""

    def __init__(self, module: TopDownVAE | MarkovLadderVAEModule) -> None:
        self.config = module.config
        self.sizes = tuple(module.sizes)
        self.latent_dim = sum(self.sizes)
        self.top_down = [ExactNetwork(head) for head in module.prior.top_down]
        self.decoder = ExactNetwork(module.decoder)

    def conditional(self, layer: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of p(z_layer | z_{layer+1}), fixed point."""
        return _split_gaussian(self.top_down[layer](z_above))

    def decode(self, z1: Tensor) -> Tensor:
        """Likelihood parameters from z_1 (or the whole code: the decoder takes its first features)."""
        return self.decoder(z1)


class ExactLadder(ExactGenerative):
    """Integer parts of a top-down VAE (``ladder.TopDownVAE``: the MLP ladder or the hierarchical conv VAE).

    ``evidence`` is the bottom-up pass: a trunk, then blocks whose outputs feed each layer's
    evidence head (the ladder's layer l reads block l; the hierarchical model's latent maps
    read the stage at their resolution, its top vector the last). ``conditional`` is the
    generative p(z_l | z_{l+1}); :func:`precision_weighted` merges the two into
    q(z_l | z_{l+1}, x); ``decode`` reads z_1.
    """

    def __init__(self, module: TopDownVAE) -> None:
        super().__init__(module)
        if isinstance(module, HierarchicalVAEModule):
            trunk, blocks = module.encoder.stem, module.encoder.stages
            self.taps = [*(s - 1 for s in module.levels), len(blocks) - 1]
        else:
            trunk, blocks = module.encoder, module.bottom_up
            self.taps = list(range(len(blocks)))
        self.trunk = ExactNetwork(trunk)
        self.bottom_up = [ExactNetwork(block) for block in blocks]
        self.evidence_heads = [ExactNetwork(head) for head in module.evidence]

    def evidence(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Bottom-up Gaussian evidence (mean, log-variance) of every layer, bottom first, fixed point."""
        if self.config.mask_input:
            x = torch.cat([x, torch.full_like(x, 1 << FRAC_BITS)], dim=1)
        h = self.trunk(x)
        features = []
        for block in self.bottom_up:
            h = block(h)
            features.append(h)
        return [_split_gaussian(head(features[tap])) for head, tap in zip(self.evidence_heads, self.taps, strict=True)]




class ExactMarkovLadder(ExactGenerative):
    """Integer parts of a ladder with bottom-up Markov inference (``markov_ladder.MarkovLadderVAEModule``).

    ``posterior`` gives q(z_1 | x) and q(z_{l+1} | z_l), ``conditional`` the generative p(z_l | z_{l+1})
    and ``decode`` p(x | z_1): the pieces Bit-Swap interleaves, each a function of one layer only.
    """

    def __init__(self, module: MarkovLadderVAEModule) -> None:
        super().__init__(module)
        self.trunk = ExactNetwork(module.encoder)
        self.posterior_heads = [ExactNetwork(head) for head in module.posterior]

    def posterior(self, layer: int, below: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z_layer | below), fixed point: ``below`` is x for layer 0, else z_{layer-1}."""
        if layer == 0:
            if self.config.mask_input:
                below = torch.cat([below, torch.full_like(below, 1 << FRAC_BITS)], dim=1)
            below = self.trunk(below)
        return _split_gaussian(self.posterior_heads[layer](below))
