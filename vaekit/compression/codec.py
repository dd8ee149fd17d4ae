"""``compress`` and ``decompress``: data in, a complete ``.vkz`` file out, and back.

This module ties the parts together: it checks the model and the data, maps the user's
raw values to the coder's symbols (and proves, before writing anything, that the mapping
inverts exactly for lossless mode), records what the output must look like (item count,
shapes, dtype, file names, columns) and wraps the coded stream in the container.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from vaekit.compression.bitsback import BATCH_RANGE, BitsBackCodec, default_batch_size
from vaekit.compression.container import (
    CompressedFileError,
    Container,
    bytes_to_words,
    model_fingerprint,
    pack,
    unpack,
    words_to_bytes,
)
from vaekit.compression.entropy_models import MEAN_LIKELIHOODS, DiscreteCode, discrete_code
from vaekit.compression.exact_network import EXACT_ARCHITECTURES, ExactVAE
from vaekit.compression.fixedpoint import to_fixed
from vaekit.compression.lossy import QUALITY_MAX, QUALITY_MIN, LossyCodec, step_for_quality
from vaekit.data import Dataset
from vaekit.errors import ConfigError, DataError
from vaekit.estimator import VAE, DataLike, as_dataset

MODES = ("lossless", "lossy")
LATENT_BITS_RANGE = (4, 16)


def to_layout(x: np.ndarray, array_shape: tuple[int, ...]) -> np.ndarray:
    """Examples ``(n, c, h, w)`` or ``(n, d)`` in the per-example layout they came in, e.g. ``(h, w, c)``."""
    if x.ndim == 4 and tuple(array_shape) == (*x.shape[2:], x.shape[1]) != x.shape[1:]:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # it was stored channel-last
    return x.reshape(len(x), *array_shape)


@dataclass
class Decompressed:
    """What a file decodes to: the examples as a :class:`Dataset`, and the array layout they came in."""

    dataset: Dataset
    array_shape: tuple[int, ...]
    mode: str

    @property
    def array(self) -> np.ndarray:
        """The examples in the layout and dtype of the array that was compressed."""
        return to_layout(self.dataset.x, self.array_shape)


def fingerprint(vae: VAE) -> bytes:
    """The model fingerprint a file made with ``vae`` carries."""
    return model_fingerprint(vae.module_, vae.config_.model, vae.preprocessor_.to_dict())


def _exact_vae(vae: VAE) -> ExactVAE:
    check_is_fitted(vae, "module_")
    model = vae.config_.model
    if model.ladder:
        raise ConfigError("compression supports VAEs with one latent layer; this model has ladder layers")
    custom = [role for role in ("encoder", "decoder") if getattr(model, role) is not None]
    if custom:
        raise ConfigError(f"compression cannot use a custom {' or '.join(custom)}: its exact integer network "
                          f"evaluates only the layer types of vaekit's own {' and '.join(EXACT_ARCHITECTURES)} models")
    if model.arch not in EXACT_ARCHITECTURES:
        raise ConfigError(f"compression supports the {' and '.join(EXACT_ARCHITECTURES)} models (networks it can "
                          f"evaluate in exact integer arithmetic); this model is {model.arch}")
    if model.likelihood not in MEAN_LIKELIHOODS:
        raise ConfigError(f"compression supports the {', '.join(MEAN_LIKELIHOODS)} likelihoods; this model's "
                          f"is {model.likelihood}")
    return ExactVAE(vae.module_)


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Model output in raw units -> the data's dtype (integers rounded and clipped to the type's range)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _lossy_codec(vae: VAE, net: ExactVAE, step: int) -> LossyCodec:
    return LossyCodec(net, vae.config_.model.likelihood, step, vae.config_.model.prior == "normal")


def _raw_from_codes(vae: VAE, codec: LossyCodec, codes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Lossy codes -> the decoder's reconstruction in raw units and the data's dtype (images clipped)."""
    raw = vae.preprocessor_.inverse_transform(codec.reconstruct(codes).astype(np.float32))
    if vae.preprocessor_.kind == "image":
        raw = np.clip(raw, 0, vae.preprocessor_.scale)
    return _cast(raw, dtype)


def _raw_from_symbols(vae: VAE, code: DiscreteCode, symbols: np.ndarray, dtype: np.dtype) -> np.ndarray:
    values = code.values(symbols).reshape(len(symbols), *vae.config_.model.input_shape)
    return _cast(vae.preprocessor_.inverse_transform(values), dtype)


def _lossless_symbols(vae: VAE, code: DiscreteCode, data: Dataset, original: np.ndarray) -> np.ndarray:
    """Symbols for the data, after proving that decoding them gives back ``original`` bit for bit."""
    symbols = code.symbols(vae.preprocessor_.transform(data.x))
    restored = to_layout(_raw_from_symbols(vae, code, symbols, original.dtype), original.shape[1:])
    differs = restored.view(np.uint8) != original.view(np.uint8)
    if differs.any():
        at = tuple(int(i) for i in np.argwhere(differs)[0])
        at = at[:-1] + (at[-1] // original.itemsize,)  # from a byte to its value
        scale = vae.preprocessor_.scale
        alphabet = (f"only 0 and {scale:g}" if code.name == "bernoulli"
                    else f"only the 256 levels k * {scale:g} / 255")
        raise DataError(
            f"{data.source or 'the data'}: example {at[0]}, position {at[1:]} holds {original[at].item()!r}, "
            f"which this {code.name} model cannot code losslessly (it codes {alphabet}); use --mode lossy, "
            "or a model trained on data of that kind"
        )
    return symbols


def _checked_data(vae: VAE, X: DataLike, array_shape: tuple[int, ...] | None) -> tuple[Dataset, np.ndarray]:
    """The data as a Dataset the model accepts, and as the user's own array (dtype and layout kept)."""
    data = as_dataset(X)
    vae.preprocessor_.check(data)
    original = np.ascontiguousarray(X if isinstance(X, np.ndarray) else data.x)
    array_shape = tuple(original.shape[1:] if array_shape is None else array_shape)
    if int(np.prod(array_shape)) != int(np.prod(data.shape)):
        raise DataError(f"array_shape {array_shape} does not hold examples of shape {data.shape}")
    if original.shape[1:] != array_shape:  # a Dataset read from a file that laid it out differently
        original = to_layout(original, array_shape)
    return data, original


def compress(
    vae: VAE, X: DataLike, *, mode: str = "lossless", quality: int = 50, latent_bits: int = 12,
    batch_size: int | None = None, array_shape: tuple[int, ...] | None = None, progress: bool = False,
) -> bytes:
    """Compress examples with a fitted VAE into the bytes of a ``.vkz`` file.

    ``lossless`` (bits-back coding; a discrete likelihood, values it can represent) decodes
    to the identical array; ``lossy`` codes the quantised posterior mean (``quality`` 1-100)
    and decodes to the decoder's reconstruction. ``batch_size`` (lossless) is the most
    examples coded together, recorded in the file (default: up to 256, fewer for large
    examples); ``array_shape`` is the per-example shape to restore on decompression
    (default: that of ``X`` if it is an array).
    """
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    net = _exact_vae(vae)
    data, original = _checked_data(vae, X, array_shape)
    likelihood = vae.config_.model.likelihood
    if mode == "lossless":
        if not LATENT_BITS_RANGE[0] <= latent_bits <= LATENT_BITS_RANGE[1]:
            raise ConfigError(f"--latent-bits must be from {LATENT_BITS_RANGE[0]} to {LATENT_BITS_RANGE[1]}, "
                              f"got {latent_bits}")
        code = discrete_code(likelihood)
        if vae.config_.model.prior != "normal":
            raise ConfigError(f"bits-back coding needs the standard normal prior; this model's is "
                              f"{vae.config_.model.prior} (use --mode lossy)")
        symbols = _lossless_symbols(vae, code, data, original)
        batch_size = default_batch_size(symbols.shape[1]) if batch_size is None else batch_size
        if not BATCH_RANGE[0] <= batch_size <= BATCH_RANGE[1]:
            raise ConfigError(f"batch_size must be from {BATCH_RANGE[0]} to {BATCH_RANGE[1]}, got {batch_size}")
        words = BitsBackCodec(net, code, latent_bits, batch_size).encode(symbols, progress=progress)
        settings: dict[str, Any] = {"latent_bits": latent_bits, "batch_size": batch_size}
    else:
        codec = _lossy_codec(vae, net, step_for_quality(quality))
        words, settings = codec.encode(codec.quantize(_fixed_input(vae, data.x)))
        settings = {"step": codec.step, **settings}
    meta = {"n": data.n, "kind": data.kind, "shape": list(data.shape), "dtype": original.dtype.str,
            "array_shape": list(original.shape[1:]), "codec": settings}
    if data.names is not None:
        meta["names"] = list(data.names)
    if data.kind == "table" and data.columns is not None:
        meta["columns"] = list(data.columns)
    return pack(Container(mode, fingerprint(vae), meta, words_to_bytes(words)))


def decompress(vae: VAE, blob: bytes, *, source: str = "the file", progress: bool = False) -> Decompressed:
    """Decode a ``.vkz`` file made with this model.

    Damage, a newer format version or another model's file raise a :class:`CompressedFileError` saying which.
    """
    net = _exact_vae(vae)
    container = unpack(blob, source)
    expected = fingerprint(vae)
    if container.fingerprint != expected:
        raise CompressedFileError(
            f"{source} was compressed with another model (fingerprint {container.fingerprint.hex()}, this "
            f"model's is {expected.hex()}); decompress it with the run folder it was made with"
        )
    words = bytes_to_words(container.payload, source)
    meta = container.meta
    try:
        n, settings, dtype = int(meta["n"]), meta["codec"], np.dtype(meta["dtype"])
        shape, array_shape = tuple(meta["shape"]), tuple(meta["array_shape"])
        if (n < 1 or shape != tuple(vae.config_.model.input_shape) or dtype.kind not in "uif"
                or math.prod(array_shape) != math.prod(shape)):
            raise ValueError("item count, shape or dtype out of range")
        if container.mode == "lossless":
            code = discrete_code(vae.config_.model.likelihood)
            if not LATENT_BITS_RANGE[0] <= settings["latent_bits"] <= LATENT_BITS_RANGE[1]:
                raise ValueError(f"latent bits {settings['latent_bits']} out of range")
            if not BATCH_RANGE[0] <= settings["batch_size"] <= BATCH_RANGE[1]:
                raise ValueError(f"batch size {settings['batch_size']} out of range")
            codec = BitsBackCodec(net, code, settings["latent_bits"], settings["batch_size"])
            symbols = codec.decode(words, n, int(np.prod(shape)), source, progress=progress)
            raw = _raw_from_symbols(vae, code, symbols, dtype)
        else:
            if not step_for_quality(QUALITY_MAX) <= settings["step"] <= step_for_quality(QUALITY_MIN):
                raise ValueError(f"quantisation step {settings['step']} out of range")
            codec = _lossy_codec(vae, net, settings["step"])
            raw = _raw_from_codes(vae, codec, codec.decode(words, settings, n), dtype)
    except (KeyError, TypeError, ValueError) as err:
        raise CompressedFileError(f"{source} is corrupt: its metadata does not describe this model's data "
                                  f"({err})") from None
    dataset = Dataset(x=raw, kind=meta["kind"], names=meta.get("names"), columns=meta.get("columns"),
                      value_max=vae.preprocessor_.scale if meta["kind"] == "image" else None, source=source)
    return Decompressed(dataset, array_shape, container.mode)


def reconstruction(vae: VAE, X: DataLike, *, quality: int = 50) -> np.ndarray:
    """What lossy compression at ``quality`` decodes ``X`` to, computed without the entropy coder."""
    data, original = _checked_data(vae, X, None)
    codec = _lossy_codec(vae, _exact_vae(vae), step_for_quality(quality))
    codes = codec.quantize(_fixed_input(vae, data.x))
    return to_layout(_raw_from_codes(vae, codec, codes, original.dtype), original.shape[1:])


def _fixed_input(vae: VAE, x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_fixed(vae.preprocessor_.transform(x)))
