"""Errors raised by greenloop's library code, and the stops of its loop.

The CLI alone turns errors into messages and exit codes: it prints `message`,
then `fix` (the advice) on its own line. The base and the sandbox's own errors
are defined in `sandbox.errors` (so imports run agent -> sandbox) and
re-exported here.

    GreenloopError            message + fix; exit code 1        [sandbox.errors]
    ├── UsageError            bad input from the user: exit 2   [sandbox.errors]
    │   ├── ConfigError       a setting is missing or invalid
    │   └── PathRejected      a path named by the model or user is unsafe  [sandbox.errors]
    ├── FormatError           the model's reply could not be parsed
    ├── SandboxError          the sandbox cannot be created or used        [sandbox.errors]
    │   └── ImageMissing      the sandbox image is not built               [sandbox.errors]
    ├── ModelError            the model cannot be reached or refused the request
    │   ├── ModelAuthError    401: bad API key
    │   ├── ModelNotFound     404: unknown model
    │   ├── ContextTooLong    the prompt does not fit the model's context
    │   ├── ModelUnavailable  retries spent on 429/5xx/connection errors, or timeout
    │   └── ReplayMiss        a request not found in the replay cassette
    ├── GitError              a git operation on the user's repository failed
    └── ShippingError         a task's outputs cannot travel back from a cluster node

The loop's control flow, not errors (never reach the CLI; the run record turns
them into an exit reason):

    Green                     the tests pass: the loop stops with status green   (agent.run.loop)
    LimitsExceeded(reason)    a named stop: tokens, cost, wall, malformed, iterations,
                              stuck, tampered, unsafe-path; status red           (agent.run.budget)
    EditFailed                one edit block did not apply; run_edits reports it
                              back to the model                                  (agent.edits.base)
"""

from __future__ import annotations

from sandbox.errors import GreenloopError, ImageMissing, PathRejected, SandboxError, UsageError

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


class ConfigError(UsageError):
    """A setting is missing or invalid."""


class FormatError(GreenloopError):
    """The model's reply could not be parsed (no block, broken JSON, an invalid plan).

    The message is written for the model: it goes back in the next prompt.
    """


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
