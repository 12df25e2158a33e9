"""greenloop's agent: CLI, config, model clients, planner, executor, edits, loop, git, batch."""

__version__ = "0.1.0"

__all__ = ["__version__"]
