"""The one family of errors stlearn raises on purpose: bad input, bad files, busy runs.

Every error that stlearn raises because of something the user (or a file) gave it derives from
:class:`StlearnError`. Its message is one line that names the file, key or argument, says what was
expected and what to do. The command line (:mod:`stlearn.__main__`) prints such an error as that one
line and exits with status 2; any other exception is a bug and keeps its traceback.

Each class also derives from the built-in exception it refines (``ValueError``, ``TypeError``,
``FileExistsError`` …), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "InputError",
    "InputTypeError",
    "IntegrityError",
    "RunExistsError",
    "RunLockedError",
    "StlearnError",
    "one_line",
]


class StlearnError(Exception):
    """Base of every error stlearn raises on purpose; its message says what was expected and what to do."""


class CheckpointError(StlearnError, ValueError):
    """A file that cannot be used as the checkpoint asked for; the message says why and what to do."""


class ConfigError(StlearnError, ValueError):
    """A training configuration (TOML file, :class:`~stlearn.training.TrainConfig` or resume) that cannot be used."""


class InputError(StlearnError, ValueError):
    """An argument with a wrong value: a shape, a range, NaN/Inf, an index out of range."""


class InputTypeError(StlearnError, TypeError):
    """An argument of the wrong type (a string where numbers were expected, a tensor of the wrong dtype)."""


class IntegrityError(StlearnError, ValueError):
    """A stored file or cache whose bytes do not match the sha256 recorded for them."""


class RunExistsError(StlearnError, FileExistsError):
    """A training run would overwrite an existing checkpoint."""


class RunLockedError(StlearnError, RuntimeError):
    """Another live process is writing the same training run (its lock file names it)."""


def one_line(error: BaseException) -> str:
    """The error's message on one line (newlines folded), never empty."""
    text = " ".join(str(error).split())
    return text or type(error).__name__
