#!/usr/bin/env python
"""smolprep launcher: `python launch.py --help`.

The command line is imported under the `__main__` guard only: local workers re-import this script (as
`__mp_main__`) and need none of it."""

import sys

if __name__ == "__main__":
    from smolprep.cli import main

    sys.exit(main())
