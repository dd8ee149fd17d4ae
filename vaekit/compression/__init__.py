"""A VAE as a real compressor: entropy-coded ``.vkz`` files that decode exactly on any machine.

    from vaekit.compression import compress, decompress
    blob = compress(vae, images, mode="lossless")   # bits-back coding (BB-ANS) with constriction's ANS
    restored = decompress(vae, blob).array            # identical to ``images``
    middle = decompress(vae, "big.vkz", items=slice(100, 200))  # reads only the chunks holding them

Modules: :mod:`container` (the file format: chunks coded alone, and an index), :mod:`bitsback` (lossless, in chunks of
examples), :mod:`lossy` (quantised latent codes), :mod:`entropy_models` (integer CDFs, and
coding a batch of symbols under them digit by digit), :mod:`exact_network` and
:mod:`fixedpoint` (the machine-independent arithmetic).
"""

from vaekit.errors import VaekitError

try:
    import constriction  # noqa: F401
except ImportError as err:
    raise VaekitError("compression needs the constriction package: pip install -e '.[compress]'") from err

from vaekit.compression.codec import (
    CompressedFile,
    Decompressed,
    compress,
    compress_file,
    compress_to,
    decompress,
    fingerprint,
    reconstruction,
)
from vaekit.compression.container import CompressedFileError

__all__ = ["CompressedFile", "CompressedFileError", "Decompressed", "compress", "compress_file", "compress_to",
           "decompress", "fingerprint", "reconstruction"]
