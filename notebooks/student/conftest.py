"""The student notebooks stop at their first unwritten exercise on purpose: not collected by nbval.

tests/test_exercises_student.py runs them instead and checks that every check cell fails with
the stub's NotImplementedError hint.
"""

collect_ignore_glob = ["*.ipynb"]
