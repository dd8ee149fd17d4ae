"""``vaekit compress``: data -> an entropy-coded ``.vkz`` file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from vaekit.cli.common import add_data_options, add_parser, check_output, data_help, load_data
from vaekit.config.presets import CHUNK_SIZE
from vaekit.data import Dataset
from vaekit.data.idx import is_idx, read_idx
from vaekit.errors import ConfigError

ORDER = 60

DESCRIPTION = """\
Compress DATA with a trained model into one entropy-coded file that `vaekit decompress` turns
back into the data. A VAE is a learned compressor; this writes real files, coded with ANS.

The file is a series of chunks of --chunk-size examples (default 4096), each coded alone, and
an index: `vaekit decompress --items 100:200` decodes a range without the rest. DATA is read a
chunk at a time (a .npy file is memory-mapped, an image folder read as it goes), and the file is
written as the chunks are coded, so data larger than memory compresses in bounded memory.

--mode lossless: bits-back coding (BB-ANS). Each example costs about its negative ELBO in bits,
  and the examples of a chunk share one stream, so the start-up cost is paid once a chunk.
  Examples are coded in groups of up to --batch-size, one network pass and a few vectorised
  coder calls per group; the groups are recorded in the file. Needs a discrete likelihood (bernoulli for binary
  images, logistic or categorical for 8-bit images) and data it can represent exactly;
  decompression gives back the identical array.
--mode lossy: rounds each example's latent code E[z|x] to a grid set by --quality
  (1-100; each 11 points halve the step) and codes the integers. Works for images and tables,
  ladder models (each layer quantised relative to its prior given the quantised layer above)
  and logistic mixtures; decompression gives the decoder's reconstruction (its mean).

The file carries a fingerprint of the model, the item count, shapes, dtype and file names, and
checksums; it decodes to identical bytes on any machine.

examples:
  vaekit compress runs/binary test.npy --out test.vkz
  vaekit compress runs/faces photos/ --out photos.vkz --mode lossy --quality 60
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "compress", "compress data into a .vkz file", DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `vaekit train`")
    p.add_argument("data", metavar="DATA", help=data_help())
    p.add_argument("--out", required=True, metavar="FILE.vkz", help="the compressed file to write")
    # The compression package (and constriction) is imported when the command runs, so the rest
    # of the CLI works without the [compress] extra.
    p.add_argument("--mode", choices=("lossless", "lossy"), default="lossless",
                   help="exact bits-back coding, or quantised latent codes")
    p.add_argument("--quality", type=int, metavar="Q", help="lossy only: 1-100 (default 50)")
    p.add_argument("--latent-bits", type=int, metavar="B",
                   help="lossless only: the latent space is cut into 2**B buckets, 4-16 (default 12; "
                        "more is slower)")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="lossless only: the most examples coded together, 1-65536 (default 256, fewer for "
                        "large examples); recorded in the file, so decoding needs no setting")
    p.add_argument("--chunk-size", type=int, metavar="N", default=CHUNK_SIZE.default,
                   help=f"{CHUNK_SIZE.help} (default {CHUNK_SIZE.default})")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_data_options(p)
    p.set_defaults(run=run_compress)


def source_array_shape(spec: str, data: Dataset) -> tuple[int, ...]:
    """The per-example shape of the array DATA holds on disk, so decompression restores its layout."""
    path = Path(spec)
    if path.suffix.lower() == ".npy" and path.is_file():
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape[1:])
    if path.is_file() and is_idx(path):
        return tuple(read_idx(path).shape[1:])
    return data.shape


def run_compress(args: argparse.Namespace) -> int:
    from vaekit.compression import compress_file
    from vaekit.estimator import load

    if args.mode == "lossless" and args.quality is not None:
        raise ConfigError("--quality applies to --mode lossy; lossless files are exact")
    for flag, value in (("--latent-bits", args.latent_bits), ("--batch-size", args.batch_size)):
        if args.mode == "lossy" and value is not None:
            raise ConfigError(f"{flag} applies to --mode lossless")
    out = check_output(args.out, (".vkz",))
    vae = load(args.run_dir, device="cpu")
    path = Path(args.data)
    # .npy files and image folders stay on disk, read a chunk at a time
    args.mmap = args.mmap or path.is_dir() or (path.suffix.lower() == ".npy" and path.is_file())
    data = load_data(args.data, args)
    size = compress_file(vae, data, out, mode=args.mode, quality=50 if args.quality is None else args.quality,
                         latent_bits=args.latent_bits or 12, batch_size=args.batch_size, chunk_size=args.chunk_size,
                         array_shape=source_array_shape(args.data, data),
                         progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        dims = data.n * int(np.prod(data.shape))
        print(f"wrote {out}: {data.n} examples, {size:,} bytes, {8 * size / dims:.4f} bits per "
              f"dimension ({args.mode})")
    return 0
