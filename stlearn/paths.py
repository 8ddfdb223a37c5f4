"""Where the course keeps its files: the repository's ``data/`` folder (lesson 1 onwards).

The shipped data sets, their checksums and the pretrained checkpoints live in ``data/`` at the
root of the repository.  :func:`data_dir` finds it from the location of this package (the course
installs ``stlearn`` in editable mode, so the package sits next to ``data/``); the environment
variable ``STLEARN_DATA`` points it somewhere else (a copy on a faster disk, a test folder).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV_VAR", "data_dir"]

#: Environment variable that overrides the location of the ``data/`` folder.
DATA_ENV_VAR = "STLEARN_DATA"


def data_dir() -> Path:
    """The folder that holds the course's data files.

    Returns ``$STLEARN_DATA`` when that variable is set and not empty, otherwise the ``data/``
    folder next to the ``stlearn`` package (``<repository>/data``).  The folder is not created
    and need not exist; loaders that miss a file say which file and how to regenerate it.

    Used by lesson 1 ("Spatiotemporal data") and every lesson that loads a data set or a checkpoint.
    """
    override = os.environ.get(DATA_ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "data"
