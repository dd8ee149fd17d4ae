"""Data larger than memory: memory-mapped arrays and image folders streamed batch by batch."""

import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

import vaekit
from vaekit.data.out_of_core import LazyImages
from vaekit.data.preprocessing import Preprocessor
from vaekit.train.streaming import RowSource

SMALL = {"hidden": (32,), "latent_dim": 4, "epochs": 2, "batch_size": 64, "likelihood": "logistic"}


def fitted(data, **kw):
    vae = vaekit.VAE(**{**SMALL, **kw}).fit(data)
    return vae.module_.state_dict(), [(r["train_loss"], r["val_elbo"]) for r in vae.history_]


def same_model(a, b):
    return all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and a[1] == b[1]


def test_streamed_memmap_trains_the_same_model_as_in_memory_data(digits_npy):
    in_memory = vaekit.load_dataset(str(digits_npy))
    on_disk = vaekit.load_dataset(str(digits_npy), mmap=True)
    assert isinstance(on_disk.x, np.memmap) and not isinstance(in_memory.x, np.memmap)
    reference = fitted(in_memory)
    assert same_model(fitted(on_disk), reference)
    assert same_model(fitted(on_disk, workers=2), reference)  # DataLoader worker processes read ahead
    assert not same_model(fitted(on_disk, seed=1), reference)


def test_image_folder_decoded_on_demand(tmp_path, digits_npy):
    images = np.load(digits_npy)[:120, 0]
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i:03d}.png")
    eager = vaekit.load_dataset(str(tmp_path))
    lazy = vaekit.load_dataset(str(tmp_path), mmap=True)
    assert isinstance(lazy.x, LazyImages) and lazy.shape == eager.shape == (1, 8, 8)
    np.testing.assert_array_equal(np.asarray(lazy.x), eager.x)
    np.testing.assert_array_equal(lazy.subset(np.array([5, 2])).x, eager.x[[5, 2]])
    assert same_model(fitted(lazy, batch_size=32), fitted(eager, batch_size=32))


def test_streamed_table_is_standardised_from_row_blocks(tmp_path):
    wine = vaekit.load_dataset("wine")
    np.save(tmp_path / "wine.npy", wine.x)
    on_disk = vaekit.load_dataset(str(tmp_path / "wine.npy"), mmap=True)
    pre_disk, pre_memory = Preprocessor.fit(on_disk), Preprocessor.fit(wine)
    np.testing.assert_allclose(pre_disk.mean, pre_memory.mean, rtol=1e-12)
    np.testing.assert_allclose(pre_disk.std, pre_memory.std, rtol=1e-12)
    vae = vaekit.VAE(hidden=(16,), latent_dim=2, epochs=3, batch_size=32).fit(on_disk)
    assert vae.history_[-1]["val_elbo"] > vae.history_[0]["val_elbo"]


def test_fixed_binarisation_of_streamed_rows_does_not_depend_on_batching(digits_npy):
    data = vaekit.load_dataset(str(digits_npy), mmap=True)
    source = RowSource(data.x, np.arange(40, 80), Preprocessor.fit(data), binarized=True)
    whole = source[0:40]
    assert set(whole.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(source[np.array([7, 3, 30])], whole[[7, 3, 30]], rtol=0, atol=0)
    elsewhere = RowSource(data.x, np.arange(45, 50), source.pre, binarized=True)  # row 45 at position 0
    torch.testing.assert_close(elsewhere[0:1][0], whole[5], rtol=0, atol=0)


CAPPED = """
import json, re, resource, sys
import numpy as np
import vaekit

def data_bytes():  # what RLIMIT_DATA caps: the heap and private writable mappings, not file-backed maps
    return int(re.search(r"VmData:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024

path, headroom = sys.argv[1], int(sys.argv[2])
vaekit.VAE(hidden=(8,), epochs=1).fit(vaekit.load_dataset("digits"))  # import and warm up everything first
cap = data_bytes() + headroom
resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
data = vaekit.load_dataset(path, mmap=True)
vae = vaekit.VAE(hidden=(8,), latent_dim=2, epochs=1, batch_size=256, binarize="none", val_fraction=0.02).fit(data)
try:
    vaekit.VAE(hidden=(8,), latent_dim=2, epochs=1, binarize="none").fit(vaekit.load_dataset(path))
    in_memory = "fitted"
except (MemoryError, RuntimeError) as err:  # numpy and torch report an allocation over the cap
    in_memory = type(err).__name__
print(json.dumps({"n": data.n, "val_elbo": vae.history_[-1]["val_elbo"], "in_memory": in_memory}))
"""


def test_trains_on_a_memmap_larger_than_a_memory_cap(tmp_path):
    """RLIMIT_DATA lets the process grow 32 MB past start-up; the data is 128 MB of uint8 (512 MB as floats)."""
    headroom, n = 32 * 2**20, 128 * 2**20 // 784 + 1
    path = tmp_path / "big.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 28, 28))
    rng = np.random.default_rng(0)
    for start in range(0, n, 16384):
        x[start : start + 16384] = (rng.random((min(16384, n - start), 28, 28)) < 0.3) * np.uint8(255)
    x.flush()
    del x
    assert path.stat().st_size > 4 * headroom
    done = subprocess.run([sys.executable, "-c", CAPPED, str(path), str(headroom)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["n"] == n and np.isfinite(result["val_elbo"])
    assert result["in_memory"] == "MemoryError"  # the same data loaded into memory breaks the cap
