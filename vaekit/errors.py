"""User-facing errors.

Everything vaekit raises on bad input derives from :class:`VaekitError`; the CLI prints
its message on one line and exits non-zero, without a traceback.
"""


class VaekitError(Exception):
    """A problem the user can fix: bad input, a wrong path, an inconsistent option."""


class DataError(VaekitError):
    """Data that cannot be read or does not fit: missing file, wrong format, NaN, mixed sizes."""


class ModelFileError(VaekitError):
    """A run folder or model file that is missing, corrupt or made for another architecture."""


class ConfigError(VaekitError):
    """An invalid or inconsistent setting."""


class TrainingError(VaekitError):
    """Training that cannot go on, e.g. a loss that became NaN."""
