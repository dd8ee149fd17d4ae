"""Lossless compression by bits-back coding with ANS (BB-ANS, Townsend et al., 2019).

A VAE gives p(x) = sum_z p(z) p(x|z) only as a bound, the ELBO, and bits-back coding turns
that bound into a code length. For each example, with the coder as a stack:

1. *pop* a latent bucket z from q(z|x): decoding with the posterior reads bits that were
   already on the stack (the "bits back"), about -log q(z|x) of them;
2. *push* x under p(x|z): -log p(x|z) bits;
3. *push* z under the prior p(z): -log p(z) bits.

Net cost -log p(x|z) - log p(z) + log q(z|x), whose average over q is the negative ELBO.
Decoding runs the steps backwards, last example first: pop z under the prior, pop x under
p(x|z), then push z back under q(z|x) to return the borrowed bits. All examples share one
stream, so the initial bits the first pop needs are paid once; they come from a fixed,
seeded source, and the decoder checks that exactly those words remain at the end.

The latent space is discretised into buckets of equal prior mass (a uniform prior over
buckets, whose indices are scattered before coding so the bits the next pop reads stay
close to uniform, see ``LatentBuckets.to_prior_symbols``). Every table is built by
:mod:`fixedpoint` integer arithmetic from the :class:`ExactVAE`'s integer outputs, so
encoder and decoder agree bit for bit, and the encoder's batched network passes give the
same integers as the decoder's one-example passes.
"""

from __future__ import annotations

import hashlib

import constriction
import numpy as np
import torch
from tqdm.auto import tqdm

from vaekit.compression.container import CompressedFileError
from vaekit.compression.entropy_models import DiscreteCode, latent_buckets
from vaekit.compression.exact_network import ExactVAE

#: Examples per batched encoder pass when compressing.
ENCODE_BATCH = 256


def initial_words(count: int) -> np.ndarray:
    """The fixed pseudo-random words the stream starts from (SHA-256 in counter mode)."""
    stream = b"".join(hashlib.sha256(b"vaekit bits-back %d" % i).digest() for i in range(count // 8 + 1))
    words = np.frombuffer(stream, dtype="<u4")[:count].astype(np.uint32)
    words[-1] |= np.uint32(1 << 31)  # a nonzero top word: a valid ANS state
    return words


class BitsBackCodec:
    """BB-ANS over a VAE with a discrete likelihood, chaining all examples in one ANS stream."""

    def __init__(self, net: ExactVAE, code: DiscreteCode, latent_bits: int) -> None:
        self.net = net
        self.code = code
        self.buckets = latent_buckets(latent_bits)
        self.shape = tuple(net.config.input_shape)
        # Enough initial bits for the first example's pop (about latent_bits per dimension at
        # most, typically) on top of the two-word ANS state; what it leaves unused is overhead
        # paid once per stream.
        self.seed = initial_words(2 + -(-net.latent_dim * latent_bits // 32))

    def _likelihood_args(self, z: np.ndarray) -> tuple[np.ndarray, ...]:
        return self.code.coder_args(self.net.decode(self.buckets.centres[torch.from_numpy(z)][None]))

    def encode(self, symbols: np.ndarray, progress: bool = False) -> np.ndarray:
        """int32 symbols ``[n, entries]`` -> the stream's 32-bit words."""
        coder = constriction.stream.stack.AnsCoder(self.seed.copy())
        buckets = self.buckets
        with tqdm(total=len(symbols), desc="compressing", unit="item", disable=not progress) as bar:
            for start in range(0, len(symbols), ENCODE_BATCH):
                batch = symbols[start : start + ENCODE_BATCH]
                mu, logvar = self.net.encode(self.code.fixed_input(batch, self.shape))
                for i, x in enumerate(batch):
                    z = coder.decode(buckets.posterior_family, buckets.posterior_masses(mu[i], logvar[i]))
                    coder.encode_reverse(x, self.code.family, *self._likelihood_args(z))
                    coder.encode_reverse(buckets.to_prior_symbols(z), buckets.prior)
                    bar.update()
        return coder.get_compressed()

    def decode(self, words: np.ndarray, count: int, entries: int, source: str,
               progress: bool = False) -> np.ndarray:
        """The stream's words -> int32 symbols ``[count, entries]``, checking the stream ends on the seed."""
        coder = constriction.stream.stack.AnsCoder(words)
        buckets = self.buckets
        out = np.empty((count, entries), dtype=np.int32)
        try:
            for i in tqdm(range(count - 1, -1, -1), desc="decompressing", unit="item", disable=not progress):
                z = buckets.from_prior_symbols(coder.decode(buckets.prior, self.net.latent_dim))
                out[i] = coder.decode(self.code.family, *self._likelihood_args(z))
                mu, logvar = self.net.encode(self.code.fixed_input(out[i : i + 1], self.shape))
                coder.encode_reverse(z, buckets.posterior_family, buckets.posterior_masses(mu[0], logvar[0]))
            rest = coder.get_compressed()
        except (ValueError, RuntimeError) as err:
            raise CompressedFileError(f"{source}: the coded stream is inconsistent ({err})") from None
        if not np.array_equal(rest, self.seed):
            raise CompressedFileError(f"{source}: the coded stream did not decode cleanly (it is corrupt, "
                                      "or was written by an incompatible coder)")
        return out
