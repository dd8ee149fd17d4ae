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
"""

from __future__ import annotations

import hashlib

import constriction
import numpy as np
import torch
from tqdm.auto import tqdm

from vaekit.compression.container import CompressedFileError
from vaekit.compression.entropy_models import (
    DiscreteCode,
    SymbolCdf,
    decode_symbols,
    encode_symbols,
    latent_buckets,
)
from vaekit.compression.exact_network import ExactVAE

#: Batch sizes (the most examples coded in one chunk) a file may record.
BATCH_RANGE = (1, 1 << 16)


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


class BitsBackCodec:
    """BB-ANS over a VAE with a discrete likelihood, chaining all examples in one ANS stream."""

    def __init__(self, net: ExactVAE, code: DiscreteCode, latent_bits: int, batch_size: int) -> None:
        self.net = net
        self.code = code
        self.buckets = latent_buckets(latent_bits)
        self.batch_size = batch_size
        self.pop_budget = net.latent_dim * latent_bits  # bits: the most a pop takes, on average
        self.shape = tuple(net.config.input_shape)
        # Enough initial bits for the first example's pop (about latent_bits per dimension at
        # most, typically) on top of the two-word ANS state; what it leaves unused is overhead
        # paid once per stream.
        self.seed = initial_words(2 + -(-net.latent_dim * latent_bits // 32))

    def _likelihood(self, z: np.ndarray) -> SymbolCdf:
        """p(x|z) of every entry of a chunk, from its buckets ``[chunk * latent_dim]``."""
        return self.code.cdf(self.net.decode(self.buckets.centres[torch.from_numpy(z)].view(-1, self.net.latent_dim)))

    def _posterior(self, symbols: np.ndarray) -> SymbolCdf:
        return self.buckets.posterior_cdf(*self.net.encode(self.code.fixed_input(symbols, self.shape)))

    def _sizes(self, stop: int) -> constriction.stream.model.Uniform | None:
        """The model of the size - 1 of the chunk that ends at example ``stop``; None if it can only be 1."""
        sizes = min(self.batch_size, stop)
        return constriction.stream.model.Uniform(sizes) if sizes > 1 else None

    def encode(self, symbols: np.ndarray, progress: bool = False) -> np.ndarray:
        """int32 symbols ``[n, entries]`` -> the stream's 32-bit words."""
        coder = constriction.stream.stack.AnsCoder(self.seed.copy())
        buckets = self.buckets
        start = 0
        with tqdm(total=len(symbols), desc="compressing", unit="item", disable=not progress) as bar:
            while start < len(symbols):
                stop = min(len(symbols), start + self.batch_size, start + max(1, coder.num_bits() // self.pop_budget))
                x = symbols[start:stop]
                z = decode_symbols(coder, self._posterior(x))
                encode_symbols(coder, x.ravel(), self._likelihood(z))
                coder.encode_reverse(buckets.to_prior_symbols(z), buckets.prior)
                if sizes := self._sizes(stop):
                    coder.encode_reverse(stop - start - 1, sizes)
                bar.update(stop - start)
                start = stop
        return coder.get_compressed()

    def decode(self, words: np.ndarray, count: int, entries: int, source: str,
               progress: bool = False) -> np.ndarray:
        """The stream's words -> int32 symbols ``[count, entries]``, checking the stream ends on the seed."""
        coder = constriction.stream.stack.AnsCoder(words)
        buckets = self.buckets
        out = np.empty((count, entries), dtype=np.int32)
        stop = count
        try:
            with tqdm(total=count, desc="decompressing", unit="item", disable=not progress) as bar:
                while stop > 0:
                    sizes = self._sizes(stop)
                    start = stop - 1 - (int(coder.decode(sizes)) if sizes else 0)
                    z = buckets.from_prior_symbols(coder.decode(buckets.prior, (stop - start) * self.net.latent_dim))
                    x = decode_symbols(coder, self._likelihood(z)).reshape(stop - start, entries)
                    encode_symbols(coder, z, self._posterior(x))
                    out[start:stop] = x
                    bar.update(stop - start)
                    stop = start
            rest = coder.get_compressed()
        except (ValueError, RuntimeError) as err:
            raise CompressedFileError(f"{source}: the coded stream is inconsistent ({err})") from None
        if not np.array_equal(rest, self.seed):
            raise CompressedFileError(f"{source}: the coded stream did not decode cleanly (it is corrupt, "
                                      "or was written by an incompatible coder)")
        return out
