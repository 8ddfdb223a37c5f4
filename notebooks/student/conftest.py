"""The student notebooks stop at their first unwritten exercise on purpose, so `pytest notebooks`
(the course's test suite) does not collect them; tests/test_exercises_notebooks.py runs them instead.

A learner checks their own notebook by naming it: `pytest --nbval-lax notebooks/student/ex03_convlstm_gates.ipynb`,
or `stlearn check notebooks/student/ex03_convlstm_gates.ipynb` for one line per exercise.
"""

from pathlib import Path


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix != ".ipynb":
        return None
    named = {Path(str(arg).split("::")[0]).resolve() for arg in config.args}
    return None if collection_path.resolve() in named else True
