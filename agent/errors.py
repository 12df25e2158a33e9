"""Errors raised by greenloop's library code.

The CLI alone turns these into messages (each names the fix) and exit codes.

    GreenloopError
    ├── UsageError            bad input from the user: exit code 2
    │   ├── ConfigError       a setting is missing or invalid
    │   └── PathRejected      a path named by the model or user is unsafe
    ├── FormatError           the model's reply could not be parsed
    ├── SandboxError          the sandbox cannot be created or used
    │   └── ImageMissing      the sandbox image is not built
    ├── ModelError            the model cannot be reached or refused the request
    │   ├── ModelAuthError    401: bad API key
    │   ├── ModelNotFound     404: unknown model
    │   ├── ContextTooLong    the prompt does not fit the model's context
    │   ├── ModelUnavailable  retries spent on 429/5xx/connection errors, or timeout
    │   └── ReplayMiss        a request not found in the replay cassette
    ├── GitError              a git operation on the user's repository failed
    └── ShippingError         a task's outputs cannot travel back from a cluster node
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ContextTooLong",
    "FormatError",
    "GitError",
    "GreenloopError",
    "ImageMissing",
    "ModelAuthError",
    "ModelError",
    "ModelNotFound",
    "ModelUnavailable",
    "PathRejected",
    "ReplayMiss",
    "SandboxError",
    "ShippingError",
    "UsageError",
]


class GreenloopError(Exception):
    """Base of every error greenloop raises on purpose.

    The message should say what went wrong and how to fix it.
    """

    exit_code: int = 1


class UsageError(GreenloopError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class ConfigError(UsageError):
    """A setting is missing or invalid."""


class PathRejected(UsageError):
    """A path is unsafe: absolute, escaping the root, inside .git, or over a cap."""


class FormatError(GreenloopError):
    """The model's reply could not be parsed (no block, broken JSON, an invalid plan).

    The message is written for the model: it goes back in the next prompt.
    """


class SandboxError(GreenloopError):
    """The sandbox could not be created, reached or used."""


class ImageMissing(SandboxError):
    """The sandbox image is not built (fix: `greenloop sandbox build`)."""


class ModelError(GreenloopError):
    """The model could not answer."""


class ModelAuthError(ModelError):
    """The endpoint rejected the API key."""


class ModelNotFound(ModelError):
    """The endpoint does not serve the requested model."""


class ContextTooLong(ModelError):
    """The request is larger than the model's context window."""


class ModelUnavailable(ModelError):
    """Retries were spent on rate limits, server errors, dropped connections or timeouts."""


class ReplayMiss(ModelError):
    """A request under --replay is not in the cassette."""


class GitError(GreenloopError):
    """A git operation failed."""


class ShippingError(GreenloopError):
    """A task's outputs cannot travel back from a cluster node (too large, or refused)."""
