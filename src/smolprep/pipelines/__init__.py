"""datatrove pipelines of each step (``build``), their readers, writers and guards.

Importing the package applies ``speedups`` (per-process caches of datatrove's dependency check and loguru's
library folders): every process that builds or unpickles our steps imports it first.
"""

from smolprep.pipelines import speedups

speedups.apply()
