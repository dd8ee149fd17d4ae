"""The ``.vkz`` file format: a self-checking container around one entropy-coded stream.

Layout (little-endian), version 2::

    offset  size  field
    0       4     magic b"\\x89VKZ"
    4       1     format version
    5       8     total file length in bytes
    13      4     CRC-32 of bytes 0..12 (the preamble)
    17      16    model fingerprint: SHA-256 of the model's config, preprocessing and weights (first 16 bytes)
    33      1     mode: 1 = lossless (bits-back), 2 = lossy
    34      4     length M of the metadata
    38      M     metadata: compact JSON (item count, shapes, dtype, names, codec settings)
    38+M    ...   payload: the coder's 32-bit words
    end-4   4     CRC-32 of everything before it

The first 17 bytes (magic, version, length, preamble CRC) keep this meaning in every
future version, so any vaekit can tell a damaged file from a truncated one from one
written by a newer or an older version, and say which. Version 2 codes lossless files in
chunks of examples (the batch size is in the metadata); version 1 coded one example at a
time, and its streams cannot be read by version 2's coder.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from vaekit.errors import VaekitError

MAGIC = b"\x89VKZ"
VERSION = 2
MODES = {1: "lossless", 2: "lossy"}
_MODE_IDS = {name: key for key, name in MODES.items()}
_PREAMBLE = struct.Struct("<4sBQ")  # magic, version, total length
_CRC = struct.Struct("<I")
_BODY = struct.Struct("<16sBI")  # fingerprint, mode, metadata length
_HEADER = _PREAMBLE.size + _CRC.size


class CompressedFileError(VaekitError):
    """A ``.vkz`` file that is truncated, corrupt, from a newer version or made by another model."""


@dataclass
class Container:
    mode: str
    fingerprint: bytes
    meta: dict[str, Any]
    payload: bytes


def model_fingerprint(module: torch.nn.Module, model_config: Any, preprocessing: dict[str, Any]) -> bytes:
    """16 bytes that change with any weight, architecture setting or preprocessing statistic."""
    digest = hashlib.sha256(b"vaekit model\0")
    digest.update(json.dumps(asdict(model_config), sort_keys=True).encode())
    digest.update(json.dumps(preprocessing, sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.digest()[:16]


def pack(container: Container) -> bytes:
    """The complete file as bytes."""
    meta = json.dumps(container.meta, separators=(",", ":"), sort_keys=True).encode()
    body = _BODY.pack(container.fingerprint, _MODE_IDS[container.mode], len(meta)) + meta + container.payload
    total = _HEADER + len(body) + _CRC.size
    preamble = _PREAMBLE.pack(MAGIC, VERSION, total)
    head = preamble + _CRC.pack(zlib.crc32(preamble))
    return head + body + _CRC.pack(zlib.crc32(head + body))


def unpack(blob: bytes, source: str = "the file") -> Container:
    """Parse and verify a file; every kind of damage is a :class:`CompressedFileError` naming it."""
    if blob[: len(MAGIC)] != MAGIC[: len(blob)] or not blob:
        raise CompressedFileError(f"{source} is not a vaekit compressed file (no .vkz magic bytes)")
    if len(blob) < _HEADER:
        raise CompressedFileError(f"{source} is truncated: it ends inside the header ({len(blob)} bytes)")
    _, version, total = _PREAMBLE.unpack_from(blob)
    if _CRC.unpack_from(blob, _PREAMBLE.size)[0] != zlib.crc32(blob[: _PREAMBLE.size]):
        raise CompressedFileError(f"{source} is corrupt: its header checksum does not match")
    if version > VERSION:
        raise CompressedFileError(
            f"{source} uses .vkz format version {version}, newer than this vaekit reads (up to {VERSION}); "
            "upgrade vaekit to decompress it"
        )
    if version < 1:
        raise CompressedFileError(f"{source} is corrupt: format version {version} does not exist")
    if version < VERSION:
        raise CompressedFileError(
            f"{source} uses .vkz format version {version}, older than this vaekit reads (version {VERSION}); "
            "decompress it with the vaekit that wrote it (0.1.0 wrote version 1), then compress the data again"
        )
    if len(blob) < total:
        raise CompressedFileError(f"{source} is truncated: it has {len(blob)} of its {total} bytes")
    if len(blob) > total:
        raise CompressedFileError(f"{source} is corrupt: {len(blob) - total} unexpected bytes after its end")
    if _CRC.unpack_from(blob, total - _CRC.size)[0] != zlib.crc32(blob[: total - _CRC.size]):
        raise CompressedFileError(f"{source} is corrupt: its checksum does not match (a bit was flipped "
                                  "or the file was altered)")
    fingerprint, mode_id, meta_len = _BODY.unpack_from(blob, _HEADER)
    start = _HEADER + _BODY.size
    try:
        meta = json.loads(blob[start : start + meta_len])
        mode = MODES[mode_id]
    except (ValueError, KeyError) as err:  # only reachable by a writer bug: the checksum matched
        raise CompressedFileError(f"{source} is corrupt: unreadable metadata ({err})") from None
    return Container(mode, fingerprint, meta, blob[start + meta_len : total - _CRC.size])


def words_to_bytes(words: np.ndarray) -> bytes:
    return np.asarray(words, dtype="<u4").tobytes()


def bytes_to_words(payload: bytes, source: str) -> np.ndarray:
    if len(payload) % 4:
        raise CompressedFileError(f"{source} is corrupt: its payload is not a whole number of 32-bit words")
    return np.frombuffer(payload, dtype="<u4").astype(np.uint32)
