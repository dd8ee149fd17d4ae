"""``compress`` and ``decompress``: data in, a complete ``.vkz`` file out, and back, a chunk at a time.

This module ties the parts together: it checks the model and the data, maps the user's
raw values to the coder's symbols (and proves, before writing anything, that the mapping
inverts exactly for lossless mode), records what the output must look like (item count,
shapes, dtype, file names, columns) and writes the coded chunks into the container. The
data is read, coded and written a chunk at a time, and a file is decoded chunk by chunk,
only the chunks that hold the items asked for, so neither side holds more than a chunk.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from vaekit.compression.bitsback import BATCH_RANGE, bits_back_codec, default_batch_size
from vaekit.compression.container import CompressedFileError, ContainerReader, ContainerWriter, model_fingerprint
from vaekit.compression.entropy_models import DISCRETE_CODES, MEAN_LIKELIHOODS, DiscreteCode, discrete_code
from vaekit.compression.exact_network import EXACT_ARCHITECTURES, ExactLadder, ExactMarkovLadder, ExactVAE
from vaekit.compression.fixedpoint import to_fixed
from vaekit.compression.lossy import QUALITY_MAX, QUALITY_MIN, LossyCodec, step_for_quality
from vaekit.config.presets import CHUNK_SIZE
from vaekit.data import Dataset
from vaekit.errors import ConfigError, DataError
from vaekit.estimator import VAE, DataLike, as_dataset
from vaekit.io import atomic
from vaekit.model.ladder import TopDownVAE
from vaekit.model.markov_ladder import MarkovLadderVAEModule

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


def _exact_vae(vae: VAE) -> ExactVAE | ExactLadder | ExactMarkovLadder:
    check_is_fitted(vae, "module_")
    model = vae.config_.model
    custom = [role for role in ("encoder", "decoder") if getattr(model, role) is not None]
    if custom:
        raise ConfigError(f"compression cannot use a custom {' or '.join(custom)}: its exact integer network "
                          f"evaluates only the layer types of vaekit's own {', '.join(EXACT_ARCHITECTURES)} models")
    if model.arch not in EXACT_ARCHITECTURES:
        raise ConfigError(f"compression supports the {', '.join(EXACT_ARCHITECTURES)} models (networks it can "
                          f"evaluate in exact integer arithmetic); this model is {model.arch}")
    supported = dict.fromkeys([*MEAN_LIKELIHOODS, *DISCRETE_CODES])
    if model.likelihood not in supported:
        raise ConfigError(f"compression supports the {', '.join(supported)} likelihoods; this model's "
                          f"is {model.likelihood}")
    if isinstance(vae.module_, MarkovLadderVAEModule):
        return ExactMarkovLadder(vae.module_)
    return ExactLadder(vae.module_) if isinstance(vae.module_, TopDownVAE) else ExactVAE(vae.module_)


def _discrete_code(vae: VAE) -> DiscreteCode:
    model = vae.config_.model
    return discrete_code(model.likelihood, model.input_shape[0], model.mixture_components)


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Model output in raw units -> the data's dtype (integers rounded and clipped to the type's range)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _lossy_codec(vae: VAE, net: ExactVAE | ExactLadder | ExactMarkovLadder, step: int) -> LossyCodec:
    if isinstance(net, ExactMarkovLadder):
        raise ConfigError("lossy compression quantises top-down ladders and one-layer VAEs; this ladder has "
                          "bottom-up inference (ladder_inference='bottom-up'): use --mode lossless")
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


def _lossless_symbols(vae: VAE, code: DiscreteCode, data: Dataset, original: np.ndarray, first: int) -> np.ndarray:
    """Symbols for the data, after proving that decoding them gives back ``original`` bit for bit.

    ``first`` is the number of the first example, for the error message."""
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
            f"{data.source or 'the data'}: example {first + at[0]}, position {at[1:]} holds {original[at].item()!r}, "
            f"which this {code.name} model cannot code losslessly (it codes {alphabet}); use --mode lossy, "
            "or a model trained on data of that kind"
        )
    return symbols


def _checked_data(vae: VAE, X: DataLike, array_shape: tuple[int, ...] | None) -> tuple[Dataset, np.ndarray]:
    """The data as a Dataset the model accepts, and as the user's own array (dtype and layout kept)."""
    data = vae.preprocessor_.check(as_dataset(X))
    original = np.ascontiguousarray(X if isinstance(X, np.ndarray) else data.x)
    array_shape = tuple(original.shape[1:] if array_shape is None else array_shape)
    if int(np.prod(array_shape)) != int(np.prod(data.shape)):
        raise DataError(f"array_shape {array_shape} does not hold examples of shape {data.shape}")
    if original.shape[1:] != array_shape:  # a Dataset read from a file that laid it out differently
        original = to_layout(original, array_shape)
    return data, original


def _pieces(X: DataLike, chunk_size: int) -> Iterator[DataLike]:
    """``X`` in runs of ``chunk_size`` examples, sliced where it lies: a memory map or a lazily read
    image folder is read one chunk at a time."""
    n = X.n if isinstance(X, Dataset) else len(X)
    if n == 0:
        raise DataError("there are no examples to compress")
    for start in range(0, n, chunk_size):
        rows = slice(start, start + chunk_size)
        if isinstance(X, Dataset):
            yield X.subset(rows)
        elif isinstance(X, pd.DataFrame):
            yield X.iloc[rows]
        else:
            yield np.asarray(X[rows])


ChunkEncoder = Callable[[Dataset, np.ndarray, int], tuple[np.ndarray, dict[str, Any]]]


def _chunk_encoder(vae: VAE, mode: str, quality: int, latent_bits: int,
                   batch_size: int | None) -> tuple[dict[str, Any], ChunkEncoder]:
    """The file's codec settings, and how to code one chunk (its words and its own settings)."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    net = _exact_vae(vae)
    if mode == "lossy":
        lossy = _lossy_codec(vae, net, step_for_quality(quality))
        return {"step": lossy.step}, lambda data, _, __: lossy.encode(lossy.quantize(_fixed_input(vae, data.x)))
    if not LATENT_BITS_RANGE[0] <= latent_bits <= LATENT_BITS_RANGE[1]:
        raise ConfigError(f"--latent-bits must be from {LATENT_BITS_RANGE[0]} to {LATENT_BITS_RANGE[1]}, "
                          f"got {latent_bits}")
    code = _discrete_code(vae)
    if vae.config_.model.prior != "normal":
        raise ConfigError(f"bits-back coding needs the standard normal prior; this model's is "
                          f"{vae.config_.model.prior} (use --mode lossy)")
    if batch_size is None:
        batch_size = default_batch_size(math.prod(vae.config_.model.input_shape))
    if not BATCH_RANGE[0] <= batch_size <= BATCH_RANGE[1]:
        raise ConfigError(f"batch_size must be from {BATCH_RANGE[0]} to {BATCH_RANGE[1]}, got {batch_size}")
    codec = bits_back_codec(net, code, latent_bits, batch_size)

    def encode(data: Dataset, original: np.ndarray, first: int) -> tuple[np.ndarray, dict[str, Any]]:
        return codec.encode(_lossless_symbols(vae, code, data, original, first)), {}

    return {"latent_bits": latent_bits, "batch_size": batch_size}, encode


def compress_to(
    fh: BinaryIO, vae: VAE, X: DataLike, *, mode: str = "lossless", quality: int = 50, latent_bits: int = 12,
    batch_size: int | None = None, chunk_size: int = CHUNK_SIZE.default,
    array_shape: tuple[int, ...] | None = None, progress: bool = False,
) -> int:
    """Compress examples with a fitted VAE into a ``.vkz`` file written to ``fh`` (seekable, empty).

    ``lossless`` (bits-back coding; a discrete likelihood, values it can represent) decodes
    to the identical array; ``lossy`` codes the quantised posterior mean (``quality`` 1-100)
    and decodes to the decoder's reconstruction. Every ``chunk_size`` examples form a chunk
    coded alone, so a range of them decodes without the rest, and ``X`` (an array, a memory
    map, a :class:`Dataset` whose images are read lazily) is read a chunk at a time.
    ``batch_size`` (lossless) is the most examples coded together within a chunk, recorded
    in the file (default: up to 256, fewer for large examples); ``array_shape`` is the
    per-example shape to restore on decompression (default: that of ``X`` if it is an
    array). Returns the file's length in bytes.
    """
    CHUNK_SIZE.check(chunk_size)
    settings, encode = _chunk_encoder(vae, mode, quality, latent_bits, batch_size)
    writer = ContainerWriter(fh, mode, fingerprint(vae))
    meta: dict[str, Any] = {}
    n = 0
    with tqdm(total=len(X) if not isinstance(X, Dataset) else X.n, desc="compressing", unit="item",
              disable=not progress) as bar:
        for piece in _pieces(X, chunk_size):
            data, original = _checked_data(vae, piece, array_shape)
            layout = {"kind": data.kind, "shape": list(data.shape), "dtype": original.dtype.str,
                      "array_shape": list(original.shape[1:])}
            if data.kind == "table" and data.columns is not None:
                layout["columns"] = list(data.columns)
            if meta and layout != meta:  # only reachable by data that changes type part way
                raise DataError(f"{data.source or 'the data'}: examples {n} on differ from the first ones "
                                f"({layout} instead of {meta})")
            meta = layout
            words, chunk_settings = encode(data, original, n)
            if data.names is not None:
                chunk_settings = {**chunk_settings, "names": list(data.names)}
            writer.add(data.n, chunk_settings, words)
            n += data.n
            bar.update(data.n)
    return writer.finish({**meta, "n": n, "codec": settings})


def compress(vae: VAE, X: DataLike, **options: Any) -> bytes:
    """The bytes of a ``.vkz`` file holding ``X``; options as :func:`compress_to`."""
    buffer = io.BytesIO()
    compress_to(buffer, vae, X, **options)
    return buffer.getvalue()


def compress_file(vae: VAE, X: DataLike, path: str | os.PathLike, **options: Any) -> int:
    """Write a ``.vkz`` file chunk by chunk, atomically (nothing at ``path`` unless it all worked);
    options as :func:`compress_to`. Returns its length in bytes."""
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        return compress_to(fh, vae, X, **options)


ChunkDecoder = Callable[[np.ndarray, int, dict[str, Any], str], np.ndarray]


def _chunk_decoder(vae: VAE, mode: str, settings: dict[str, Any], dtype: np.dtype) -> ChunkDecoder:
    """How to decode one chunk (words, item count, its settings, its name for errors) to raw examples."""
    net = _exact_vae(vae)
    if mode == "lossy":
        if not step_for_quality(QUALITY_MAX) <= settings["step"] <= step_for_quality(QUALITY_MIN):
            raise ValueError(f"quantisation step {settings['step']} out of range")
        lossy = _lossy_codec(vae, net, settings["step"])
        return lambda words, n, own, _: _raw_from_codes(vae, lossy, lossy.decode(words, own, n), dtype)
    code = _discrete_code(vae)
    if not LATENT_BITS_RANGE[0] <= settings["latent_bits"] <= LATENT_BITS_RANGE[1]:
        raise ValueError(f"latent bits {settings['latent_bits']} out of range")
    if not BATCH_RANGE[0] <= settings["batch_size"] <= BATCH_RANGE[1]:
        raise ValueError(f"batch size {settings['batch_size']} out of range")
    codec = bits_back_codec(net, code, settings["latent_bits"], settings["batch_size"])
    entries = math.prod(vae.config_.model.input_shape)
    return lambda words, n, _, name: _raw_from_symbols(vae, code, codec.decode(words, n, entries, name), dtype)


class CompressedFile:
    """A ``.vkz`` file opened for decoding: header, index and fingerprint checked now; any range of
    items decoded later, reading only the chunks that hold it.

        with CompressedFile(vae, "photos.vkz") as f:
            middle = f.read(slice(100, 200)).array
    """

    def __init__(self, vae: VAE, file: bytes | str | os.PathLike, source: str | None = None) -> None:
        self.vae = vae
        blob = isinstance(file, (bytes, bytearray))
        self.source = source or ("the file" if blob else str(file))
        if not blob and not Path(file).is_file():
            raise DataError(f"{file} does not exist")
        self._fh: BinaryIO = io.BytesIO(file) if blob else open(file, "rb")  # noqa: SIM115 (closed by close())
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        _exact_vae(self.vae)
        self.reader = reader = ContainerReader(self._fh, self.source)
        expected = fingerprint(self.vae)
        if reader.fingerprint != expected:
            raise CompressedFileError(
                f"{self.source} was compressed with another model (fingerprint {reader.fingerprint.hex()}, this "
                f"model's is {expected.hex()}); decompress it with the run folder it was made with"
            )
        meta, self.mode, self.n = reader.meta, reader.mode, reader.n
        try:
            self.dtype = np.dtype(meta["dtype"])
            shape, self.array_shape = tuple(meta["shape"]), tuple(meta["array_shape"])
            self.kind, self.columns = meta["kind"], meta.get("columns")
            if (int(meta["n"]) != self.n or shape != tuple(self.vae.config_.model.input_shape)
                    or self.dtype.kind not in "uif" or math.prod(self.array_shape) != math.prod(shape)
                    or self.kind not in ("image", "table")):
                raise ValueError("item count, shape or dtype out of range")
            self._decode = _chunk_decoder(self.vae, self.mode, meta["codec"], self.dtype)
        except (KeyError, TypeError, ValueError) as err:
            raise self._corrupt(err) from None

    def _corrupt(self, err: Exception, where: str = "") -> CompressedFileError:
        return CompressedFileError(f"{self.source} is corrupt{where}: its metadata does not describe this "
                                   f"model's data ({err})")

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CompressedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def select(self, items: int | slice | None) -> range:
        """The item numbers ``items`` picks: one item, a slice (step 1; negative counts from the end) or all."""
        n = self.n
        if items is None:
            return range(n)
        if isinstance(items, (int, np.integer)) and not isinstance(items, bool):
            if not -n <= items < n:
                raise ConfigError(f"items {items} is not in this file, which holds items 0 to {n - 1}")
            return range(items % n, items % n + 1)
        if isinstance(items, slice) and items.step in (None, 1):
            start, stop, _ = items.indices(n)
            given = [v for v in (items.start, items.stop) if v is not None]
            if start >= stop or any(not -n <= v <= n for v in given):
                shown = f"{'' if items.start is None else items.start}:{'' if items.stop is None else items.stop}"
                raise ConfigError(f"items {shown} selects no items of this file, which holds items 0 to {n - 1}")
            return range(start, stop)
        raise ConfigError(f"items must be an item number or a slice start:stop, got {items!r}")

    def chunks(self, items: int | slice | None = None, progress: bool = False) -> Iterator[Decompressed]:
        """The items ``items`` selects, decoded chunk by chunk (only the chunks that hold them are read)."""
        wanted = self.select(items)
        with tqdm(total=len(wanted), desc="decompressing", unit="item", disable=not progress) as bar:
            for k, entry in enumerate(self.reader.chunks):
                lo, hi = max(wanted.start, entry.start), min(wanted.stop, entry.start + entry.count)
                if lo >= hi:
                    continue
                own, words = self.reader.chunk(k)
                name = f"{self.source} (chunk {k})"
                try:
                    raw = self._decode(words, entry.count, own, name)
                    names = own.get("names")
                    if names is not None and len(names) != entry.count:
                        raise ValueError(f"{len(names)} names for {entry.count} items")
                except (KeyError, TypeError, ValueError) as err:
                    raise self._corrupt(err, f" in chunk {k}") from None
                rows = slice(lo - entry.start, hi - entry.start)
                dataset = Dataset(x=raw[rows], kind=self.kind, columns=self.columns,
                                  names=None if names is None else list(names[rows]),
                                  value_max=self.vae.preprocessor_.scale if self.kind == "image" else None,
                                  source=self.source)
                bar.update(hi - lo)
                yield Decompressed(dataset, self.array_shape, self.mode)

    def read(self, items: int | slice | None = None, progress: bool = False) -> Decompressed:
        """The items ``items`` selects (all by default), decoded into memory."""
        pieces = [piece.dataset for piece in self.chunks(items, progress)]
        names = None if pieces[0].names is None else [name for p in pieces for name in p.names]
        dataset = replace(pieces[0], x=np.concatenate([p.x for p in pieces]), names=names)
        return Decompressed(dataset, self.array_shape, self.mode)


def decompress(vae: VAE, file: bytes | str | os.PathLike, *, items: int | slice | None = None,
               source: str | None = None, progress: bool = False) -> Decompressed:
    """Decode a ``.vkz`` file (its bytes or its path) made with this model; ``items`` (an item number
    or a slice) decodes only those items, reading only the chunks that hold them.

    Damage, a newer format version or another model's file raise a :class:`CompressedFileError` saying which.
    """
    with CompressedFile(vae, file, source) as opened:
        return opened.read(items, progress)


def reconstruction(vae: VAE, X: DataLike, *, quality: int = 50) -> np.ndarray:
    """What lossy compression at ``quality`` decodes ``X`` to, computed without the entropy coder."""
    data, original = _checked_data(vae, X, None)
    codec = _lossy_codec(vae, _exact_vae(vae), step_for_quality(quality))
    codes = codec.quantize(_fixed_input(vae, data.x))
    return to_layout(_raw_from_codes(vae, codec, codes, original.dtype), original.shape[1:])


def _fixed_input(vae: VAE, x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_fixed(vae.preprocessor_.transform(x)))
