"""The errors every greenloop error shares, and the sandbox's own.

They live here, below `agent/`, so imports run one way: `agent` imports
`sandbox`, never the reverse. `agent.errors` re-exports every name and draws
the whole hierarchy.

    GreenloopError            message + fix (the advice the CLI prints on its own line)
    ├── UsageError            bad input from the user: exit code 2
    │   └── PathRejected      a path named by the model or user is unsafe
    └── SandboxError          the sandbox cannot be created or used
        └── ImageMissing      the sandbox image is not built
"""

from __future__ import annotations

__all__ = ["GreenloopError", "ImageMissing", "PathRejected", "SandboxError", "UsageError"]


class GreenloopError(Exception):
    """Base of every error greenloop raises on purpose.

    `message` says what went wrong; `fix`, when known, says what to do about it.
    `str()` gives both ("... Fix: ...") for logs and result files; the CLI
    prints the two on their own lines.
    """

    exit_code: int = 1

    def __init__(self, message: str = "", *, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if not self.fix:
            return self.message
        return f"{self.message.rstrip('. ')}. Fix: {self.fix}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep `fix` across pickling (batch workers and Ray send errors back).
        return (_rebuild, (type(self), self.message, self.fix))


def _rebuild(cls: type[GreenloopError], message: str, fix: str) -> GreenloopError:
    return cls(message, fix=fix)


class UsageError(GreenloopError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class PathRejected(UsageError):
    """A path is unsafe: absolute, escaping the root, inside .git, or over a cap."""


class SandboxError(GreenloopError):
    """The sandbox could not be created, reached or used."""


class ImageMissing(SandboxError):
    """The sandbox image is not built (fix: `greenloop sandbox build`)."""
