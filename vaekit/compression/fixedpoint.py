"""Fixed-point arithmetic that gives the same bits on every machine.

An entropy decoder only works if it rebuilds *exactly* the probability tables the encoder
used. Floating-point results are not portable: BLAS libraries sum in different orders,
SIMD paths round differently, and ``exp``/``erf`` differ in the last bit between libms.
So every number that feeds the coder is an integer here:

* values (network activations, latent codes, table arguments) are integers ``v`` meaning
  ``v / 2**FRAC_BITS``;
* probabilities are integer masses at ``PROB_BITS`` bits, handed to constriction as
  float64 numbers that are exact integers, which its (IEEE, fixed-order) quantiser maps
  to the same fixed-point model everywhere;
* transcendental functions (the normal CDF, the logistic sigmoid, exp) are tables on a
  fixed grid, computed with Python's ``decimal`` module, a software arithmetic whose
  results do not depend on the CPU or the C library, then linearly interpolated with
  integer operations only.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from functools import cache

import numpy as np

#: Fractional bits of fixed-point values: the integer v stands for v / 2**16.
FRAC_BITS = 16
ONE = 1 << FRAC_BITS
#: Bits of the integer probability masses given to the coder (sums stay below 2**53).
PROB_BITS = 48
PROB_ONE = 1 << PROB_BITS

_DIGITS = 32
_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510582097494")
with decimal.localcontext(decimal.Context(prec=_DIGITS)):
    _SQRT_2PI = (2 * _PI).sqrt()
_TOLERANCE = decimal.Decimal(10) ** -28


class Table:
    """A function of one fixed-point argument: exact integer values on a grid, interpolated.

    ``fn`` maps a ``Decimal`` argument to a ``Decimal`` value; the table stores
    ``round(fn(t) * 2**value_bits)`` at ``t = lo + j / 2**grid_bits`` for ``t`` in ``[lo, hi]``
    and clamps arguments outside that range to its ends.
    """

    def __init__(self, fn: Callable[[decimal.Decimal], decimal.Decimal], lo: int, hi: int,
                 grid_bits: int, value_bits: int) -> None:
        self.lo_fixed = lo * ONE
        self.shift = FRAC_BITS - grid_bits
        size = (hi - lo) * (1 << grid_bits) + 1
        scale = decimal.Decimal(1 << value_bits)
        step = decimal.Decimal(1) / (1 << grid_bits)
        with decimal.localcontext(decimal.Context(prec=_DIGITS)):
            exact = [fn(lo + j * step) * scale for j in range(size)]
        values = np.array([int(v.to_integral_value(decimal.ROUND_HALF_EVEN)) for v in exact], np.int64)
        self.values = values
        self.slopes = np.diff(values, append=values[-1])  # value[j + 1] - value[j]; 0 past the end
        self.last = (size - 1) << self.shift

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Interpolated values at fixed-point arguments ``t`` (int64), as int64."""
        pos = np.subtract(t, self.lo_fixed, dtype=np.int64)
        np.clip(pos, 0, self.last, out=pos)
        j = pos >> self.shift
        pos &= (1 << self.shift) - 1
        step = np.take(self.slopes, j)
        step *= pos
        step >>= self.shift
        step += np.take(self.values, j)
        return step


def _normal_cdf(t: decimal.Decimal) -> decimal.Decimal:
    """Phi(t), by symmetry from the upper half."""
    return 1 - _upper_normal_cdf(-t) if t < 0 else _upper_normal_cdf(t)


@cache
def _upper_normal_cdf(t: decimal.Decimal) -> decimal.Decimal:
    """Phi(t) for t >= 0 by Marsaglia's series, Phi(t) = 1/2 + phi(t) * sum t^(2n+1) / (2n+1)!!."""
    total = term = t
    square = t * t
    n = 1
    while term > total * _TOLERANCE:
        term = term * square / (2 * n + 1)
        total += term
        n += 1
    return decimal.Decimal("0.5") + (-square / 2).exp() * total / _SQRT_2PI


def _sigmoid(t: decimal.Decimal) -> decimal.Decimal:
    return 1 / (1 + (-t).exp())


def _exp(t: decimal.Decimal) -> decimal.Decimal:
    return t.exp()


@cache
def normal_cdf() -> Table:
    """Standard normal CDF on [-8, 8] at 1/256 steps, as masses out of 2**PROB_BITS."""
    return Table(_normal_cdf, -8, 8, grid_bits=8, value_bits=PROB_BITS)


@cache
def sigmoid() -> Table:
    """Logistic CDF on [-32, 32] at 1/64 steps, as masses out of 2**PROB_BITS."""
    return Table(_sigmoid, -32, 32, grid_bits=6, value_bits=PROB_BITS)


@cache
def exp_neg() -> Table:
    """exp(t) on [-40, 0] at 1/64 steps, out of 2**PROB_BITS: unnormalised softmax weights."""
    return Table(_exp, -40, 0, grid_bits=6, value_bits=PROB_BITS)


#: Fractional bits of ``exp_scale`` values (reciprocal standard deviations).
SCALE_BITS = 24


@cache
def exp_scale() -> Table:
    """exp(t) on [-8, 8] at 1/256 steps with SCALE_BITS fractional bits: 1/sigma from log-scales."""
    return Table(_exp, -8, 8, grid_bits=8, value_bits=SCALE_BITS)


@cache
def elu_negative() -> Table:
    """exp(t) - 1 on [-16, 0] at 1/256 steps, fixed point: the ELU activation below zero."""
    return Table(lambda t: t.exp() - 1, -16, 0, grid_bits=8, value_bits=FRAC_BITS)


#: SiLU's table covers [-SILU_REACH, SILU_REACH]; beyond it t * sigmoid(t) is t (above) or 0 (below)
#: to within 16 e**-16 < 2**-FRAC_BITS, so the tails are exact in fixed point.
SILU_REACH = 16


@cache
def silu() -> Table:
    """t * sigmoid(t) on [-SILU_REACH, SILU_REACH] at 1/256 steps, fixed point (the resnet's activation)."""
    return Table(lambda t: t / (1 + (-t).exp()), -SILU_REACH, SILU_REACH, grid_bits=8, value_bits=FRAC_BITS)


@cache
def bounded_logvar(bound: float) -> Table:
    """bound * tanh(t / bound) on about [-8 bound, 8 bound] at 1/64 steps, fixed point (the ladder's soft bound)."""
    exact = decimal.Decimal(repr(float(bound)))
    reach = math.ceil(8 * bound)

    def fn(t: decimal.Decimal) -> decimal.Decimal:
        e = (2 * t / exact).exp()
        return exact * (e - 1) / (e + 1)
    return Table(fn, -reach, reach, grid_bits=6, value_bits=FRAC_BITS)


@cache
def softplus() -> Table:
    """log(1 + exp(t)) on [-32, 32] at 1/256 steps, fixed point (precision-weighted log-variances)."""
    return Table(lambda t: (1 + t.exp()).ln(), -32, 32, grid_bits=8, value_bits=FRAC_BITS)


def to_fixed(x: np.ndarray) -> np.ndarray:
    """Round real values to fixed point (float32/float64 in, int64 out); exact IEEE operations only."""
    return np.rint(np.asarray(x, dtype=np.float64) * ONE).astype(np.int64)


def masses_from_cdf(cdf: np.ndarray) -> np.ndarray:
    """Bin masses from CDF values at the inner bin edges (last axis), as float64 integers.

    The outer edges are 0 and 2**PROB_BITS, so every row sums to exactly 2**PROB_BITS.
    """
    shape = (*cdf.shape[:-1], 1)
    full = np.concatenate([np.zeros(shape, np.int64), cdf, np.full(shape, PROB_ONE, np.int64)], axis=-1)
    return np.diff(full, axis=-1).astype(np.float64)


def decimal_exp2(exponent_numerator: int, denominator: int) -> decimal.Decimal:
    """2 ** (numerator / denominator), computed in software decimal arithmetic (machine-independent)."""
    with decimal.localcontext(decimal.Context(prec=_DIGITS)):
        return (decimal.Decimal(exponent_numerator) / denominator * decimal.Decimal(2).ln()).exp()
