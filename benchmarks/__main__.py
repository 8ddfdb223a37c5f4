"""``python -m benchmarks``: every benchmark section, one report (see :mod:`benchmarks.run`)."""

from .run import main

raise SystemExit(main())
