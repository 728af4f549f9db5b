#!/usr/bin/env python
"""smolprep launcher: `python launch.py --help`."""

import sys

from smolprep.cli import main

if __name__ == "__main__":
    sys.exit(main())
