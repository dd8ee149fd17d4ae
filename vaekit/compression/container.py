"""The ``.vkz`` file format: independently decodable chunks of coded items, an index and checksums.

Layout (little-endian), version 3::

    offset  size  field
    0       4     magic b"\\x89VKZ"
    4       1     format version
    5       8     total file length in bytes
    13      4     CRC-32 of bytes 0..12 (the preamble)
    17      16    model fingerprint: SHA-256 of the model's config, preprocessing and weights (first 16 bytes)
    33      1     mode: 1 = lossless (bits-back), 2 = lossy
    34      4     CRC-32 of bytes 17..33
    38      ...   chunks, one after another; each:
                    4   b"CHNK"
                    4   item count
                    4   length L of the chunk's settings
                    4   word count W
                    L   settings: compact JSON (file names of its items, its entropy model)
                    4W  its coder's 32-bit words: one ANS stream, decodable alone
                    4   CRC-32 of the chunk's bytes before it
    I       ...   index: b"INDX", length M of the metadata (4), metadata (M: compact JSON: item
                  count, shapes, dtype, codec settings), then per chunk its offset (8) and item count (4)
    end-16  16    footer: offset I of the index (8), chunk count (4), CRC-32 of the index and the footer before it

The first 17 bytes (magic, version, length, preamble CRC) keep this meaning in every
version, so any vaekit can tell a damaged file from a truncated one from one written by a
newer or an older version, and say which. The writer streams chunks to disk as it codes
them and writes the index last, so memory stays bounded by a chunk; the reader reads the
header and the index, then only the chunks that hold the items asked for. Every byte is
under a checksum, and a damaged or missing chunk is named by its index. Version 2 held
one stream of all items (no index); version 1 coded one item at a time.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, BinaryIO

import numpy as np
import torch

from vaekit.errors import VaekitError

MAGIC = b"\x89VKZ"
VERSION = 3
MODES = {1: "lossless", 2: "lossy"}
_MODE_IDS = {name: key for key, name in MODES.items()}
_PREAMBLE = struct.Struct("<4sBQ")  # magic, version, total length
_CRC = struct.Struct("<I")
_BODY = struct.Struct("<16sB")  # fingerprint, mode
_HEADER = _PREAMBLE.size + _CRC.size
_FIRST_CHUNK = _HEADER + _BODY.size + _CRC.size
_CHUNK = struct.Struct("<4sIII")  # tag, item count, settings length, word count
_CHUNK_TAG = b"CHNK"
_INDEX = struct.Struct("<4sI")  # tag, metadata length
_INDEX_TAG = b"INDX"
_ENTRY = struct.Struct("<QI")  # chunk offset, item count
_FOOTER = struct.Struct("<QII")  # index offset, chunk count, CRC


class CompressedFileError(VaekitError):
    """A ``.vkz`` file that is truncated, corrupt, from a newer version or made by another model."""


def model_fingerprint(module: torch.nn.Module, model_config: Any, preprocessing: dict[str, Any]) -> bytes:
    """16 bytes that change with any weight, architecture setting or preprocessing statistic.

    Settings at their default are left out, so a vaekit that adds an option (at a default that
    keeps the old behaviour) still recognises the files older versions wrote with the same model.
    """
    digest = hashlib.sha256(b"vaekit model\0")
    digest.update(json.dumps(_non_default(model_config), sort_keys=True).encode())
    digest.update(json.dumps(preprocessing, sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.digest()[:16]


def _non_default(config: Any) -> dict[str, Any]:
    """A config dataclass's settings that differ from their declared defaults, as plain JSON values."""
    values = asdict(config)
    out = {}
    for f in fields(config):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if default is MISSING or json.dumps(values[f.name], default=str) != json.dumps(default, default=str):
            out[f.name] = values[f.name]
    return out


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _with_crc(data: bytes) -> bytes:
    return data + _CRC.pack(zlib.crc32(data))


class ContainerWriter:
    """Writes a file to a seekable binary stream: the header now, each chunk as it is coded, the index last."""

    def __init__(self, fh: BinaryIO, mode: str, fingerprint: bytes) -> None:
        self.fh = fh
        self.entries: list[tuple[int, int]] = []
        self.offset = _FIRST_CHUNK
        fh.write(bytes(_HEADER))  # the preamble, patched by finish() once the length is known
        fh.write(_with_crc(_BODY.pack(fingerprint, _MODE_IDS[mode])))

    def add(self, count: int, settings: dict[str, Any], words: np.ndarray) -> None:
        """One chunk of ``count`` items: its own settings and its coder's words."""
        info, payload = _json(settings), words_to_bytes(words)
        chunk = _with_crc(_CHUNK.pack(_CHUNK_TAG, count, len(info), len(payload) // 4) + info + payload)
        self.fh.write(chunk)
        self.entries.append((self.offset, count))
        self.offset += len(chunk)

    def finish(self, meta: dict[str, Any]) -> int:
        """Write the index and footer, then the preamble; returns the file's length in bytes."""
        info = _json(meta)
        index = _INDEX.pack(_INDEX_TAG, len(info)) + info + b"".join(_ENTRY.pack(*e) for e in self.entries)
        self.fh.write(_with_crc(index + _FOOTER.pack(self.offset, len(self.entries), 0)[:-_CRC.size]))
        total = self.offset + len(index) + _FOOTER.size
        self.fh.seek(0)
        self.fh.write(_with_crc(_PREAMBLE.pack(MAGIC, VERSION, total)))
        self.fh.seek(0, 2)
        return total


@dataclass
class ChunkEntry:
    """Where a chunk lies in the file and which items it holds."""

    offset: int
    end: int
    start: int  # its first item
    count: int


class ContainerReader:
    """A file opened for reading: header and index verified now, chunks read (and verified) on demand."""

    def __init__(self, fh: BinaryIO, source: str) -> None:
        self.fh = fh
        self.source = source
        fh.seek(0, 2)
        size = fh.tell()
        head = self._read(0, _FIRST_CHUNK)
        if not head or head[: len(MAGIC)] != MAGIC[: len(head)]:
            raise self.error("is not a vaekit compressed file (no .vkz magic bytes)")
        if size < _HEADER:
            raise self.error(f"is truncated: it ends inside the header ({size} bytes)")
        _, version, total = _PREAMBLE.unpack_from(head)
        if _CRC.unpack_from(head, _PREAMBLE.size)[0] != zlib.crc32(head[: _PREAMBLE.size]):
            raise self.error("is corrupt: its header checksum does not match")
        _check_version(version, self.error)
        if size < total:
            raise self.error(f"is truncated: it has {size} of its {total} bytes and ends {self._where(size)}")
        if size > total:
            raise self.error(f"is corrupt: {size - total} unexpected bytes after its end")
        if total < _FIRST_CHUNK + _INDEX.size + _FOOTER.size:
            raise self.error(f"is corrupt: {total} bytes cannot hold a header, an index and a footer")
        if _CRC.unpack_from(head, _FIRST_CHUNK - _CRC.size)[0] != zlib.crc32(head[_HEADER : -_CRC.size]):
            raise self.error("is corrupt: its header checksum does not match")
        self.fingerprint, mode_id = _BODY.unpack_from(head, _HEADER)
        self.meta, self.chunks = self._index(total)
        try:
            self.mode = MODES[mode_id]
        except KeyError:  # only reachable by a writer bug: the checksum matched
            raise self.error(f"is corrupt: unknown mode {mode_id}") from None
        self.n = sum(chunk.count for chunk in self.chunks)

    def error(self, what: str) -> CompressedFileError:
        return CompressedFileError(f"{self.source} {what}")

    def _read(self, offset: int, size: int) -> bytes:
        self.fh.seek(offset)
        return self.fh.read(size)

    def _where(self, size: int) -> str:
        """Where a file cut at ``size`` bytes ends: walks the chunk headers from the start."""
        if size < _FIRST_CHUNK:
            return "inside the header"
        offset, k, items = _FIRST_CHUNK, 0, 0
        while True:
            head = self._read(offset, _CHUNK.size)
            if not head:
                return f"after chunk {k - 1}, before the index" if k else "before its first chunk"
            if head[:4] != _CHUNK_TAG[: len(head[:4])]:
                return f"inside the index (after its {k} chunks)"
            if len(head) < _CHUNK.size:
                return f"inside chunk {k} (from item {items})"
            _, count, info, words = _CHUNK.unpack(head)
            end = offset + _CHUNK.size + info + 4 * words + _CRC.size
            if end > size:
                return f"inside chunk {k} (items {items} to {items + count - 1})"
            offset, k, items = end, k + 1, items + count

    def _index(self, total: int) -> tuple[dict[str, Any], list[ChunkEntry]]:
        footer = self._read(total - _FOOTER.size, _FOOTER.size)
        where, count, crc = _FOOTER.unpack(footer)
        if not _FIRST_CHUNK <= where <= total - _FOOTER.size - _INDEX.size:
            raise self.error("is corrupt: its index checksum does not match (the footer points outside the file)")
        index = self._read(where, total - _FOOTER.size - where)
        if crc != zlib.crc32(index + footer[: -_CRC.size]):
            raise self.error("is corrupt: its index checksum does not match (a bit was flipped or the file "
                             "was altered)")
        tag, meta_len = _INDEX.unpack_from(index)
        body = index[_INDEX.size + meta_len :]
        try:
            if tag != _INDEX_TAG or len(body) != count * _ENTRY.size or count < 1:
                raise ValueError("the index does not list its chunks")
            meta = json.loads(index[_INDEX.size : _INDEX.size + meta_len])
            chunks, start = [], 0
            for k, (offset, items) in enumerate(_ENTRY.iter_unpack(body)):
                end = where if k == count - 1 else _ENTRY.unpack_from(body, (k + 1) * _ENTRY.size)[0]
                if items < 1 or not (offset == (chunks[-1].end if chunks else _FIRST_CHUNK) < end):
                    raise ValueError(f"chunk {k} lies outside the file")
                chunks.append(ChunkEntry(offset, end, start, items))
                start += items
        except ValueError as err:  # only reachable by a writer bug: the checksum matched
            raise self.error(f"is corrupt: unreadable index ({err})") from None
        return meta, chunks

    def chunk(self, k: int) -> tuple[dict[str, Any], np.ndarray]:
        """Chunk ``k``'s settings and coder words, verified against its checksum."""
        entry = self.chunks[k]
        blob = self._read(entry.offset, entry.end - entry.offset)
        name = f"is corrupt in chunk {k} (items {entry.start} to {entry.start + entry.count - 1})"
        if len(blob) < _CHUNK.size + _CRC.size or _CRC.unpack_from(blob, len(blob) - _CRC.size)[0] != zlib.crc32(
                blob[: -_CRC.size]):
            raise self.error(f"{name}: its checksum does not match (a bit was flipped or the file was altered)")
        tag, count, info_len, words = _CHUNK.unpack_from(blob)
        if tag != _CHUNK_TAG or count != entry.count or _CHUNK.size + info_len + 4 * words + _CRC.size != len(blob):
            raise self.error(f"{name}: it disagrees with the index")
        try:
            settings = json.loads(blob[_CHUNK.size : _CHUNK.size + info_len])
        except ValueError as err:
            raise self.error(f"{name}: unreadable settings ({err})") from None
        start = _CHUNK.size + info_len
        return settings, np.frombuffer(blob, dtype="<u4", count=words, offset=start).astype(np.uint32)


def _check_version(version: int, error: Any) -> None:
    if version > VERSION:
        raise error(f"uses .vkz format version {version}, newer than this vaekit reads (up to {VERSION}); "
                    "upgrade vaekit to decompress it")
    if version < 1:
        raise error(f"is corrupt: format version {version} does not exist")
    if version < VERSION:
        raise error(
            f"uses .vkz format version {version}, older than this vaekit reads (version {VERSION}); "
            "decompress it with the vaekit that wrote it (0.1.0 wrote version 1; version 2 held one stream "
            "without an index), then compress the data again"
        )


def words_to_bytes(words: np.ndarray) -> bytes:
    return np.asarray(words, dtype="<u4").tobytes()
