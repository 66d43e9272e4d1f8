"""The errors reclake raises on purpose: each names what is wrong and what to do.

The command line prints their message on one line and exits with status 2;
anything else is a bug and keeps its traceback.
"""


class ReclakeError(Exception):
    """Base class: an error a person can act on."""


class ConfigError(ReclakeError):
    """The configuration (file or --set override) is invalid."""


class InputError(ReclakeError):
    """The raw input cannot be read as interaction events."""


class ValidationFailed(ReclakeError):
    """A batch-level data rule failed; nothing downstream may run."""


class MissingTableError(ReclakeError):
    """A stage needs a table an earlier stage has not written yet."""


class QualityGateFailed(ReclakeError):
    """A trained model is not good enough to publish (see `reclake evaluate`)."""
