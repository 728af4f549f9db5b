"""Two per-process caches for work that datatrove and loguru redo for every step and every task.

Both compute the same answer every time within one process; we keep the first one. Measured on the shipped
sample, they are ~0.4 s of CPU per process that builds our steps (the launcher, every local worker, every
Slurm task) and ~14 ms per task.

- ``datatrove.utils._import_utils._is_distribution_available(name)``: ``PipelineStep.__new__`` checks the
  required distributions of every step it builds (unpickling included). datatrove answers by parsing the
  metadata of *every* installed distribution, ~0.1 s per name, cached per process. We look the name up
  directly (``importlib.metadata.distribution``) and keep datatrove's full scan for every case the direct
  look-up does not settle, so the answer is datatrove's.
- loguru's ``ExceptionFormatter._get_lib_dirs``: recomputed from ``sysconfig`` for each ``logger.add``
  (datatrove adds two sinks per task, ~7 ms each); the folders do not change while a process runs.

``apply()`` is idempotent and does nothing if either function is not where we expect it (another version of
datatrove or loguru): the caches only save time.
"""

from __future__ import annotations

import functools
import importlib.metadata
from typing import Any


def _direct_distribution_check(scan: Any) -> Any:
    @functools.cache
    def is_distribution_available(distribution_name: str) -> bool | None:
        try:
            name = importlib.metadata.distribution(distribution_name).metadata["Name"]
        except Exception:  # not found by its normalised name, or unreadable metadata: datatrove decides
            return scan(distribution_name)
        if name and name.lower() == distribution_name:  # datatrove's own test: then its scan says True
            return True
        return scan(distribution_name)

    is_distribution_available.smolprep_direct = True  # type: ignore[attr-defined]
    is_distribution_available.scan = scan  # type: ignore[attr-defined]  # datatrove's own, for the tests
    return is_distribution_available


def cache_distribution_checks() -> None:
    try:
        from datatrove.utils import _import_utils
    except ImportError:
        return
    scan = getattr(_import_utils, "_is_distribution_available", None)
    if scan is None or getattr(scan, "smolprep_direct", False):
        return
    _import_utils._is_distribution_available = _direct_distribution_check(scan)


def cache_loguru_lib_dirs() -> None:
    try:
        from loguru._better_exceptions import ExceptionFormatter
    except ImportError:
        return
    compute = getattr(ExceptionFormatter, "_get_lib_dirs", None)
    if compute is None or getattr(compute, "smolprep_cached", False):
        return
    cached = functools.cache(compute)

    def lib_dirs() -> list[str]:
        return list(cached())

    lib_dirs.smolprep_cached = True  # type: ignore[attr-defined]
    lib_dirs.compute = compute  # type: ignore[attr-defined]  # loguru's own, for the tests
    ExceptionFormatter._get_lib_dirs = staticmethod(lib_dirs)  # type: ignore[method-assign]


def apply() -> None:
    cache_distribution_checks()
    cache_loguru_lib_dirs()
