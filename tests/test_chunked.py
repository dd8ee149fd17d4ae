"""Chunked ``.vkz`` files (format 3): a range of items decodes alone, reading only its chunks;
truncated or damaged chunks are named; memory maps and image folders are read a chunk at a time;
the bytes do not depend on the thread count."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

import vaekit
from vaekit.cli import main
from vaekit.compression import CompressedFileError, compress, compress_file, decompress
from vaekit.compression.container import ContainerReader
from vaekit.errors import ConfigError, DataError

LEVELS = load_digits().images.astype(np.uint8)[:200] * 15  # 8-bit images, full intensity 255
CHUNK = 32  # 200 items: chunks 0-5 of 32, chunk 6 of 8


@pytest.fixture(scope="module")
def vae():
    return vaekit.VAE(likelihood="logistic", hidden=(32,), latent_dim=4, epochs=2, batch_size=64, seed=0).fit(LEVELS)


@pytest.fixture(scope="module")
def blob(vae):
    return compress(vae, LEVELS, chunk_size=CHUNK, batch_size=16)


@pytest.fixture(scope="module")
def run_dir(vae, tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "logistic"
    vae.save(path)
    return path


def reading(monkeypatch) -> list[int]:
    """The chunks read from now on, in order."""
    seen: list[int] = []
    original = ContainerReader.chunk
    monkeypatch.setattr(ContainerReader, "chunk", lambda self, k: seen.append(k) or original(self, k))
    return seen


def test_a_middle_range_decodes_alone_and_equals_the_full_decode(vae, blob, monkeypatch):
    full = decompress(vae, blob).array
    assert np.array_equal(full, LEVELS)
    seen = reading(monkeypatch)
    middle = decompress(vae, blob, items=slice(70, 130))
    assert seen == [2, 3, 4]  # items 64-159; chunks 0, 1, 5 and 6 are never read
    assert np.array_equal(middle.array, full[70:130])
    seen.clear()
    assert np.array_equal(decompress(vae, blob, items=-1).array, full[-1:]) and seen == [6]
    assert np.array_equal(decompress(vae, blob, items=slice(None, 5)).array, full[:5])


def test_lossy_files_are_chunked_too(vae):
    lossy = compress(vae, LEVELS, mode="lossy", quality=70, chunk_size=CHUNK)
    assert np.array_equal(decompress(vae, lossy, items=slice(40, 90)).array, decompress(vae, lossy).array[40:90])


@pytest.mark.parametrize("items, message", [
    (200, "items 200 is not in this file, which holds items 0 to 199"),
    (slice(150, 250), "items 150:250 selects no items"),
    (slice(9, 3), "items 9:3 selects no items"),
    (slice(0, 10, 2), "items must be an item number or a slice"),
])
def test_items_outside_the_file_are_refused(vae, blob, items, message):
    with pytest.raises(ConfigError, match=message):
        decompress(vae, blob, items=items)


def test_a_truncated_file_and_a_flipped_byte_name_their_chunk(vae, blob, run_dir, tmp_path, capsys):
    chunks = ContainerReader(io.BytesIO(blob), "f").chunks
    cut = (chunks[3].offset + chunks[3].end) // 2
    with pytest.raises(CompressedFileError, match=r"truncated: it has \d+ of its \d+ bytes and ends inside "
                                                  r"chunk 3 \(items 96 to 127\)"):
        decompress(vae, blob[:cut])
    flipped = bytearray(blob)
    flipped[(chunks[5].offset + chunks[5].end) // 2] ^= 0x10
    with pytest.raises(CompressedFileError, match=r"corrupt in chunk 5 \(items 160 to 191\): its checksum"):
        decompress(vae, bytes(flipped))
    # other chunks still decode: each has its own checksum
    assert np.array_equal(decompress(vae, bytes(flipped), items=slice(0, 100)).array, LEVELS[:100])
    (tmp_path / "bad.vkz").write_bytes(bytes(flipped))
    assert main(["decompress", str(run_dir), str(tmp_path / "bad.vkz"), "--out", str(tmp_path / "out.npy"),
                 "--items", "150:170"]) == 1
    assert "corrupt in chunk 5" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vkz"]


class Rows:
    """An array on disk that records every read, to prove compression reads a chunk at a time."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.reads = array, []

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, rows: slice) -> np.ndarray:
        self.reads.append(rows)
        return self.array[rows]


def test_a_memory_mapped_array_is_read_a_chunk_at_a_time_and_round_trips(vae, tmp_path):
    np.save(tmp_path / "x.npy", LEVELS)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = Rows(mapped)
    size = compress_file(vae, rows, tmp_path / "x.vkz", chunk_size=50)
    assert rows.reads == [slice(s, s + 50) for s in (0, 50, 100, 150)]
    assert size == (tmp_path / "x.vkz").stat().st_size
    assert (tmp_path / "x.vkz").read_bytes() == compress(vae, mapped, chunk_size=50)
    assert np.array_equal(decompress(vae, tmp_path / "x.vkz").array, LEVELS)


class BadAfter(Rows):
    """Rows whose fourth chunk holds values outside the model's 0..255."""

    def __getitem__(self, rows: slice) -> np.ndarray:
        chunk = super().__getitem__(rows)
        return chunk.astype(np.int32) + 1000 if len(self.reads) == 4 else chunk


def test_bad_data_in_a_late_chunk_writes_nothing(vae, tmp_path):
    with pytest.raises(DataError, match="must lie in 0..255"):
        compress_file(vae, BadAfter(LEVELS), tmp_path / "x.vkz", chunk_size=CHUNK)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_cli_npy_and_image_folder_round_trip_in_chunks_and_decode_ranges(run_dir, tmp_path):
    np.save(tmp_path / "x.npy", LEVELS)
    run = str(run_dir)
    assert main(["compress", run, str(tmp_path / "x.npy"), "--out", str(tmp_path / "x.vkz"), "--chunk-size", "64",
                 "--quiet"]) == 0
    for items, rows in (("100:200", slice(100, 200)), ("7", slice(7, 8)), (":3", slice(0, 3)), (None, slice(None))):
        out = tmp_path / f"back{items}.npy".replace(":", "_")
        assert main(["decompress", run, str(tmp_path / "x.vkz"), "--out", str(out), "--quiet",
                     *(["--items", items] if items else [])]) == 0
        assert np.array_equal(np.load(out), LEVELS[rows])
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(LEVELS[i]).save(folder / f"im{i}.png")
    assert main(["compress", run, str(folder), "--out", str(tmp_path / "f.vkz"), "--chunk-size", "3",
                 "--quiet"]) == 0
    assert main(["decompress", run, str(tmp_path / "f.vkz"), "--out", str(tmp_path / "some"), "--items", "4:8",
                 "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "some").iterdir()) == [f"im{i}.png" for i in range(4, 8)]
    for i in range(4, 8):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "some" / f"im{i}.png")), LEVELS[i])
    assert main(["decompress", run, str(tmp_path / "f.vkz"), "--out", str(tmp_path / "all"), "--quiet"]) == 0
    assert len(list((tmp_path / "all").iterdir())) == 10


def test_cli_refuses_a_malformed_item_range(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["decompress", str(run_dir), str(tmp_path / "x.vkz"), "--out", str(tmp_path / "o.npy"), "--items", "a:b"])
    assert "expected an item number N or a range A:B" in capsys.readouterr().err


def test_chunked_files_are_identical_whatever_the_thread_count(vae):
    threads = torch.get_num_threads()
    files = {}
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            files[count] = (compress(vae, LEVELS, chunk_size=CHUNK, batch_size=8),
                            compress(vae, LEVELS, chunk_size=CHUNK, mode="lossy", quality=60))
            assert np.array_equal(decompress(vae, files[count][0], items=slice(60, 140)).array, LEVELS[60:140])
    finally:
        torch.set_num_threads(threads)
    assert files[1] == files[2]
