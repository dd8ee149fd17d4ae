"""User-facing errors.

Everything vaekit raises on bad input derives from :class:`VaekitError`; the CLI prints
its message on one line and exits non-zero, without a traceback. Bad data and bad settings
are also ``ValueError``s, as scikit-learn's conventions ask, so code written for any
estimator (``except ValueError``) catches them too.
"""


class VaekitError(Exception):
    """A problem the user can fix: bad input, a wrong path, an inconsistent option."""


class DataError(VaekitError, ValueError):
    """Data that cannot be read or does not fit: missing file, wrong format, NaN, mixed sizes."""


class ModelFileError(VaekitError):
    """A run folder or model file that is missing, corrupt or made for another architecture."""


class ConfigError(VaekitError, ValueError):
    """An invalid or inconsistent setting."""


class TrainingError(VaekitError):
    """Training that cannot go on, e.g. a loss that became NaN."""
