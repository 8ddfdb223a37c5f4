"""Training and the shipped models: one package, one job per module (lesson 4 teaches it).

* :mod:`~stlearn.training.schedules` — scheduled and reverse scheduled sampling (lessons 4, 7)
* :mod:`~stlearn.training.config` — :class:`TrainConfig`, its TOML files, the schedules as fractions of the budget
* :mod:`~stlearn.training.batches` — deterministic batches from the data generators, training pools
* :mod:`~stlearn.training.checkpoints` — safe checkpoint files that check themselves
* :mod:`~stlearn.training.step` — one training step, eager, compiled or captured as a CUDA graph
* :mod:`~stlearn.training.plan` — how long a run is: fixed, or fitted to a time budget
* :mod:`~stlearn.training.distributed` — data-parallel runs under ``torchrun``
* :mod:`~stlearn.training.lock` — one run per checkpoint: the lock file beside it
* :mod:`~stlearn.training.loop` — :func:`train`, the loop behind ``stlearn train``
* :mod:`~stlearn.training.report` — ``stlearn runs``: iterations, speed, time spent training
* :mod:`~stlearn.training.evaluate` — ``stlearn evaluate`` on the test splits
* :mod:`~stlearn.training.pretrained` — the models shipped in ``data/checkpoints``
* :mod:`~stlearn.training.budgets` — the shipped models' training budgets, compared (lessons 3-10)
* :mod:`~stlearn.training.export` — how finished runs are shipped (``stlearn export-pretrained``)
"""

from . import schedules
from .config import TrainConfig, load_config
from .loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "load_config", "schedules", "train"]
