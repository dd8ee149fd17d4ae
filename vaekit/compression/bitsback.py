"""Lossless compression by bits-back coding with ANS (BB-ANS, Townsend et al., 2019).

A VAE gives p(x) = sum_z p(z) p(x|z) only as a bound, the ELBO, and bits-back coding turns
that bound into a code length. For each example, with the coder as a stack:

1. *pop* a latent bucket z from q(z|x): decoding with the posterior reads bits that were
   already on the stack (the "bits back"), about -log q(z|x) of them;
2. *push* x under p(x|z): -log p(x|z) bits;
3. *push* z under the prior p(z): -log p(z) bits.

Net cost -log p(x|z) - log p(z) + log q(z|x), whose average over q is the negative ELBO.
Decoding runs the steps backwards, last example first: pop z under the prior, pop x under
p(x|z), then push z back under q(z|x) to return the borrowed bits.

Examples are coded in chunks, each step for a whole chunk at once: one network pass and one
constriction call per digit level (:func:`entropy_models.encode_symbols`) serve every
example of the chunk. That is bits-back coding of the chunk as one example, with
q(z_1..z_B | x_1..x_B) = prod q(z_i|x_i), at the same rate as long as the chunk's pop finds
enough bits on the stack (popping from an exhausted stack reads zeros: still correct, but
the bits back are lost). So a chunk holds as many examples as the stack can pay for,
counting ``latent_bits`` per dimension for each (the most a pop takes on average: the
entropy of q over 2**latent_bits buckets), up to the batch size; chunks grow from one
example as the stack does. The stream starts from a seed, fixed pseudo-random words enough
for the first example's pop, and the decoder checks that the seed is all that remains at
the end. Each chunk's size is pushed after it (about 10 bits), so the decoder, going
backwards, pops the size of the chunk it decodes next: the layout is in the file, not in
the decoder's settings, and any machine and thread count decodes it the same way.

The latent space is discretised into buckets of equal prior mass (a uniform prior over
buckets, whose indices are scattered before coding so the bits the next pop reads stay
close to uniform, see ``LatentBuckets.to_prior_symbols``). Every model is built by
:mod:`fixedpoint` integer arithmetic from the :class:`ExactVAE`'s integer outputs, so
encoder and decoder agree bit for bit, for any batch size of the network passes.

Ladder models (several latent layers) are coded the same way by :class:`LadderLatents`:
plain BB-ANS over the layers, top layer first, since their top-down posterior rules out
Bit-Swap's interleaving (see there); :meth:`BitsBackCodec.initial_bits` measures what each
order borrows.
"""

from __future__ import annotations

import hashlib

import constriction
import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from vaekit.compression.container import CompressedFileError
from vaekit.compression.entropy_models import (
    DiscreteCode,
    LatentBuckets,
    SymbolCdf,
    decode_symbols,
    encode_symbols,
    latent_buckets,
)
from vaekit.compression.exact_network import ExactLadder, ExactMarkovLadder, ExactVAE, precision_weighted, table_of
from vaekit.compression.fixedpoint import FRAC_BITS, SCALE_BITS, exp_scale

#: Batch sizes (the most examples coded in one chunk) a file may record.
BATCH_RANGE = (1, 1 << 16)
#: Means of the ladder's priors are clamped to +-64 (fixed point), as ``LatentBuckets`` clamps the posterior's.
_MEAN_LIMIT = float(64 << FRAC_BITS)


def default_batch_size(entries: int) -> int:
    """The largest power of two up to 256 examples whose chunk holds at most 2**18 entries.

    Larger chunks save little Python overhead but spill the per-digit arrays out of the CPU
    caches: on 2 cores, 256 MNIST digits a chunk encode 8-bit images 1.5x as fast as 1,024.
    """
    return 1 << min(8, max(1, (1 << 18) // entries).bit_length() - 1)


def initial_words(count: int) -> np.ndarray:
    """The fixed pseudo-random words the stream starts from (SHA-256 in counter mode)."""
    stream = b"".join(hashlib.sha256(b"vaekit bits-back %d" % i).digest() for i in range(count // 8 + 1))
    words = np.frombuffer(stream, dtype="<u4")[:count].astype(np.uint32)
    words[-1] |= np.uint32(1 << 31)  # a nonzero top word: a valid ANS state
    return words


class FlatLatents:
    """One latent layer: q(z|x) over the buckets of the standard normal prior."""

    def __init__(self, net: ExactVAE, buckets: LatentBuckets) -> None:
        self.net = net
        self.buckets = buckets

    def pop(self, coder: constriction.stream.stack.AnsCoder, x: Tensor,
            trace: list[int] | None = None) -> tuple[np.ndarray, Tensor]:
        """Decode a chunk's buckets from q(z|x) (the bits back); also the code the decoder reads.

        ``trace``, if given, receives the stack's size in bits after each layer's pop (top first).
        """
        z = decode_symbols(coder, self._posterior(x))
        if trace is not None:
            trace.append(coder.num_valid_bits())
        return z, self.code(z, len(x))

    def push(self, coder: constriction.stream.stack.AnsCoder, x: Tensor, z: np.ndarray) -> None:
        """The inverse of ``pop``: give the borrowed bits back."""
        encode_symbols(coder, z, self._posterior(x))

    def code(self, z: np.ndarray, count: int) -> Tensor:
        """The decoder's input from a chunk's buckets ``[count * latent_dim]``."""
        return self.buckets.centres[torch.from_numpy(z)].view(count, -1)

    def _posterior(self, x: Tensor) -> SymbolCdf:
        return self.buckets.posterior_cdf(*self.net.encode(x))


class LadderLatents:
    """The layers z_1..z_L of a ladder VAE, coded with BB-ANS top layer first.

    The ladder's posterior q(z_l | z_{l+1}, x) is top-down and every layer depends on x, so
    Bit-Swap's interleaving (pop z_1, push x, pop z_2, push z_1, ...; Kingma et al., 2019)
    does not apply: it needs a bottom-up Markov posterior q(z_1|x) q(z_2|z_1) ..., where
    z_1 can be pushed back under q before z_2 is popped. Here the decoder must first
    decode x, which needs z_1, whose prior needs z_2 ... up to z_L; only then can it return
    the bits of any layer. So all layers are popped before anything is pushed, and the
    first chunk borrows the bits of every layer (initial bits that grow with depth, unlike
    Bit-Swap's).

    Each layer l < L is discretised into buckets of equal mass under its own prior
    p(z_l | z_{l+1}) (the standard normal buckets, shifted and scaled), known to both ends
    when that layer is coded: the prior over buckets is then uniform in every layer, so all
    layers are pushed and popped under the prior in one call, and q is coded in the
    prior's standardised coordinates.
    """

    def __init__(self, net: ExactLadder, buckets: LatentBuckets) -> None:
        self.net = net
        self.buckets = buckets
        self.top = len(net.sizes) - 1

    def _prior(self, layer: int, above: Tensor | None, count: int) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of p(z_layer | z_{layer+1}) (N(0, I) on top), fixed point, clamped."""
        if above is None:
            zeros = torch.zeros(count, self.net.sizes[layer], dtype=torch.float64)
            return zeros, zeros
        mu, logvar = self.net.conditional(layer, above)
        return mu.clamp(-_MEAN_LIMIT, _MEAN_LIMIT), logvar

    def _posterior(self, layer: int, evidence: list[tuple[Tensor, Tensor]], prior: tuple[Tensor, Tensor],
                   ) -> SymbolCdf:
        """q(z_layer | z_{layer+1}, x) over the layer's buckets, in the prior's standardised coordinates."""
        mu, logvar = evidence[layer] if layer == self.top else precision_weighted(*evidence[layer], *prior)
        p_mu, p_logvar = prior
        inv_sigma = table_of(exp_scale(), torch.floor(-p_logvar * 0.5)).long()
        standard_mu = ((mu.clamp(-_MEAN_LIMIT, _MEAN_LIMIT).long() - p_mu.long()) * inv_sigma) >> SCALE_BITS
        return self.buckets.posterior_cdf(standard_mu, logvar - p_logvar)

    def _value(self, buckets: np.ndarray, prior: tuple[Tensor, Tensor]) -> Tensor:
        """The code of buckets: the prior's mean plus its scale times the standard bucket centre."""
        p_mu, p_logvar = prior
        sigma = table_of(exp_scale(), torch.floor(p_logvar * 0.5)).long()
        centres = self.buckets.centres[torch.from_numpy(buckets)].view(p_mu.shape).long()
        return (p_mu.long() + ((centres * sigma) >> SCALE_BITS)).double()

    def _layers(self, z: np.ndarray, count: int) -> list[np.ndarray]:
        return list(np.split(z.reshape(count, -1), np.cumsum(self.net.sizes)[:-1], axis=1))

    def pop(self, coder: constriction.stream.stack.AnsCoder, x: Tensor,
            trace: list[int] | None = None) -> tuple[np.ndarray, Tensor]:
        count = len(x)
        evidence = self.net.evidence(x)
        layers: list[np.ndarray] = [np.empty(0)] * len(self.net.sizes)
        above = None
        for layer in range(self.top, -1, -1):
            prior = self._prior(layer, above, count)
            layers[layer] = decode_symbols(coder, self._posterior(layer, evidence, prior)).reshape(count, -1)
            above = self._value(layers[layer], prior)
            if trace is not None:
                trace.append(coder.num_valid_bits())
        return np.concatenate(layers, axis=1).ravel(), above

    def push(self, coder: constriction.stream.stack.AnsCoder, x: Tensor, z: np.ndarray) -> None:
        count = len(x)
        evidence = self.net.evidence(x)
        layers = self._layers(z, count)
        models = []
        above = None
        for layer in range(self.top, -1, -1):
            prior = self._prior(layer, above, count)
            models.append(self._posterior(layer, evidence, prior))
            above = self._value(layers[layer], prior)
        for layer, model in zip(range(self.top + 1), reversed(models), strict=True):  # bottom first: a stack
            encode_symbols(coder, np.ascontiguousarray(layers[layer]).ravel(), model)

    def code(self, z: np.ndarray, count: int) -> Tensor:
        above = None
        layers = self._layers(z, count)
        for layer in range(self.top, -1, -1):
            above = self._value(layers[layer], self._prior(layer, above, count))
        return above


class BitsBackCodec:
    """BB-ANS over a VAE with a discrete likelihood, chaining all examples in one ANS stream."""

    def __init__(self, net: ExactVAE | ExactLadder, code: DiscreteCode, latent_bits: int, batch_size: int) -> None:
        self.net = net
        self.code = code
        self.latent_bits = latent_bits
        self.buckets = latent_buckets(latent_bits)
        self.latents = (LadderLatents if isinstance(net, ExactLadder) else FlatLatents)(net, self.buckets)
        self.batch_size = batch_size
        self.pop_budget = net.latent_dim * latent_bits  # bits: the most a pop takes, on average
        self.shape = tuple(net.config.input_shape)
        # Enough initial bits for the first example's pop (about latent_bits per dimension at
        # most, typically) on top of the two-word ANS state; what it leaves unused is overhead
        # paid once per stream.
        self.seed = initial_words(2 + -(-net.latent_dim * latent_bits // 32))

    def _likelihood(self, code: Tensor) -> SymbolCdf:
        """p(x|z) of every entry of a chunk, from the decoder's input."""
        return self.code.cdf(self.net.decode(code))

    def _input(self, symbols: np.ndarray) -> Tensor:
        return self.code.fixed_input(symbols, self.shape)

    def initial_bits(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bits a stream must hold before coding each example alone: BB-ANS as coded here, and Bit-Swap's estimate.

        Each example is coded on its own stack, deep enough that no pop runs dry, and the bits
        each layer's posterior pop takes are read off the stack. BB-ANS pops every layer before
        its first push, so it needs their sum. Bit-Swap's order (pop z_1, push x, pop z_2, push
        z_1 under p(z_1 | z_2), ...) needs the largest deficit along that schedule; it is valid
        only for a bottom-up Markov posterior (not the ladder's, see ``LadderLatents``), so this
        is what a model with these per-layer costs would pay in that order, an estimate.
        Returns both ``[n]``.
        """
        deep = initial_words(2 + 4 * self.pop_budget // 32)
        prior_bits = [size * self.latent_bits for size in self.net.sizes]
        bb_ans, bit_swap = np.empty(len(symbols)), np.empty(len(symbols))
        for i, x in enumerate(symbols):
            coder = constriction.stream.stack.AnsCoder(deep.copy())
            trace = [coder.num_valid_bits()]
            _, code = self.latents.pop(coder, self._input(x[None]), trace)
            pops = -np.diff(trace)[::-1]  # bits each layer's pop took, bottom first
            before = coder.num_valid_bits()
            encode_symbols(coder, x, self._likelihood(code))
            x_bits = coder.num_valid_bits() - before
            bb_ans[i] = pops.sum()
            balance, deficit = 0.0, 0.0
            for layer, popped in enumerate(pops):
                balance -= popped
                deficit = max(deficit, -balance)
                balance += x_bits if layer == 0 else prior_bits[layer - 1]
            bit_swap[i] = deficit
        return bb_ans, bit_swap

    def _encode_chunk(self, coder: constriction.stream.stack.AnsCoder, x: np.ndarray) -> None:
        """Code a chunk's symbols ``[count, entries]``: pop the latents, push x, push the latents under the prior."""
        z, code = self.latents.pop(coder, self._input(x))
        encode_symbols(coder, x.ravel(), self._likelihood(code))
        coder.encode_reverse(self.buckets.to_prior_symbols(z), self.buckets.prior)

    def _decode_chunk(self, coder: constriction.stream.stack.AnsCoder, count: int, entries: int) -> np.ndarray:
        """The inverse of ``_encode_chunk``: a chunk's symbols ``[count, entries]``, the borrowed bits returned."""
        z = self.buckets.from_prior_symbols(coder.decode(self.buckets.prior, count * self.net.latent_dim))
        x = decode_symbols(coder, self._likelihood(self.latents.code(z, count))).reshape(count, entries)
        self.latents.push(coder, self._input(x), z)
        return x

    def _sizes(self, stop: int) -> constriction.stream.model.Uniform | None:
        """The model of the size - 1 of the chunk that ends at example ``stop``; None if it can only be 1."""
        sizes = min(self.batch_size, stop)
        return constriction.stream.model.Uniform(sizes) if sizes > 1 else None

    def encode(self, symbols: np.ndarray, progress: bool = False) -> np.ndarray:
        """int32 symbols ``[n, entries]`` -> the stream's 32-bit words."""
        coder = constriction.stream.stack.AnsCoder(self.seed.copy())
        start = 0
        with tqdm(total=len(symbols), desc="compressing", unit="item", disable=not progress) as bar:
            while start < len(symbols):
                stop = min(len(symbols), start + self.batch_size, start + max(1, coder.num_bits() // self.pop_budget))
                self._encode_chunk(coder, symbols[start:stop])
                if sizes := self._sizes(stop):
                    coder.encode_reverse(stop - start - 1, sizes)
                bar.update(stop - start)
                start = stop
        return coder.get_compressed()

    def decode(self, words: np.ndarray, count: int, entries: int, source: str,
               progress: bool = False) -> np.ndarray:
        """The stream's words -> int32 symbols ``[count, entries]``, checking the stream ends on the seed."""
        coder = constriction.stream.stack.AnsCoder(words)
        out = np.empty((count, entries), dtype=np.int32)
        stop = count
        try:
            with tqdm(total=count, desc="decompressing", unit="item", disable=not progress) as bar:
                while stop > 0:
                    sizes = self._sizes(stop)
                    start = stop - 1 - (int(coder.decode(sizes)) if sizes else 0)
                    out[start:stop] = self._decode_chunk(coder, stop - start, entries)
                    bar.update(stop - start)
                    stop = start
            rest = coder.get_compressed()
        except (ValueError, RuntimeError) as err:
            raise CompressedFileError(f"{source}: the coded stream is inconsistent ({err})") from None
        if not np.array_equal(rest, self.seed):
            raise CompressedFileError(f"{source}: the coded stream did not decode cleanly (it is corrupt, "
                                      "or was written by an incompatible coder)")
        return out



class BitSwapCodec(BitsBackCodec):
    """Bits-back coding of a ladder with bottom-up Markov inference in Bit-Swap order (Kingma et al., 2019).

    For a chunk x, with the coder as a stack: pop z_1 from q(z_1 | x), push x under p(x | z_1);
    then for each layer l above, pop z_l from q(z_l | z_{l-1}) and push z_{l-1} under
    p(z_{l-1} | z_l); last, push z_L under N(0, I). Every pop after the first is paid for by
    the push before it, so the bits a stream must hold before its first chunk (the seed, and
    what an exhausted stack would lose) stay about those of two layers at any depth, where
    BB-ANS (:class:`LadderLatents`) borrows every layer's. Decoding runs it backwards.

    Every layer is discretised into the same buckets, those of equal mass under N(0, 1), and
    each conditional (q's and p's) is a Gaussian over them. Buckets defined by each layer's
    conditional prior, as :class:`LadderLatents` uses, are impossible here: the encoder pops
    z_1 before z_2, on which p(z_1 | z_2) depends, exists. A fixed grid is what the Bit-Swap
    paper uses too; it costs little as long as the model's conditionals stay wider than the
    buckets where their mass lies (4,096 buckets at 12 latent bits: about 0.0006 wide at 0).
    """

    net: ExactMarkovLadder

    def __init__(self, net: ExactMarkovLadder, code: DiscreteCode, latent_bits: int, batch_size: int) -> None:
        super().__init__(net, code, latent_bits, batch_size)
        # The most the schedule is short of, on average, per example: z_1's pop, and then at most one
        # layer's pop ahead of the pushes (each push of z_{l-1} returns about what its pop took).
        above = max(net.sizes[1:], default=0)
        self.pop_budget = (net.sizes[0] + above) * latent_bits
        self.seed = initial_words(2 + -(-self.pop_budget // 32))

    def _cdf(self, params: tuple[Tensor, Tensor]) -> SymbolCdf:
        """A Gaussian (fixed-point mean and log-variance) over every dimension's buckets."""
        return self.buckets.posterior_cdf(*params)

    def _value(self, buckets: np.ndarray, count: int) -> Tensor:
        """A layer's code (fixed point) from its buckets: each bucket's prior median."""
        return self.buckets.centres[torch.from_numpy(buckets)].view(count, -1)

    def _encode_chunk(self, coder: constriction.stream.stack.AnsCoder, x: np.ndarray,
                      trace: list[int] | None = None) -> None:
        """Code a chunk's symbols ``[count, entries]`` in Bit-Swap order; ``trace``, if given, receives
        the stack's size in bits after each pop and push."""
        count, net = len(x), self.net

        def note() -> None:
            if trace is not None:
                trace.append(coder.num_valid_bits())

        below = decode_symbols(coder, self._cdf(net.posterior(0, self._input(x))))
        note()
        code = self._value(below, count)
        encode_symbols(coder, x.ravel(), self._likelihood(code))
        note()
        for layer in range(1, len(net.sizes)):
            z = decode_symbols(coder, self._cdf(net.posterior(layer, code)))
            note()
            code = self._value(z, count)
            encode_symbols(coder, below, self._cdf(net.conditional(layer - 1, code)))
            note()
            below = z
        coder.encode_reverse(self.buckets.to_prior_symbols(below), self.buckets.prior)
        note()

    def _decode_chunk(self, coder: constriction.stream.stack.AnsCoder, count: int, entries: int) -> np.ndarray:
        """The inverse of ``_encode_chunk``: top layer down, each layer's bits returned once the one below is known."""
        net, top = self.net, len(self.net.sizes) - 1
        z = self.buckets.from_prior_symbols(coder.decode(self.buckets.prior, count * net.sizes[top]))
        for layer in range(top, 0, -1):
            below = decode_symbols(coder, self._cdf(net.conditional(layer - 1, self._value(z, count))))
            encode_symbols(coder, z, self._cdf(net.posterior(layer, self._value(below, count))))
            z = below
        x = decode_symbols(coder, self._likelihood(self._value(z, count))).reshape(count, entries)
        encode_symbols(coder, z, self._cdf(net.posterior(0, self._input(x))))
        return x

    def initial_bits(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bits a stream must hold before coding each example alone, in this codec's (Bit-Swap) order.

        Each example is coded on its own stack, deep enough that no pop runs dry; the most the
        stack falls below its start along the schedule is what it borrows. Returned twice, as
        the base class returns its own order's and Bit-Swap's: here they are the same, measured.
        """
        deep = initial_words(2 + 4 * self.net.latent_dim * self.latent_bits // 32)
        borrowed = np.empty(len(symbols))
        for i, x in enumerate(symbols):
            coder = constriction.stream.stack.AnsCoder(deep.copy())
            trace = [coder.num_valid_bits()]
            self._encode_chunk(coder, x[None], trace)
            borrowed[i] = trace[0] - min(trace)
        return borrowed, borrowed


def bits_back_codec(net: ExactVAE | ExactLadder | ExactMarkovLadder, code: DiscreteCode, latent_bits: int,
                    batch_size: int) -> BitsBackCodec:
    """The lossless codec for a model: Bit-Swap where the inference is a bottom-up Markov chain, else BB-ANS."""
    codec = BitSwapCodec if isinstance(net, ExactMarkovLadder) else BitsBackCodec
    return codec(net, code, latent_bits, batch_size)
