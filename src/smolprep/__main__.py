"""`python -m smolprep` and the `smolprep` console script: the command line, imported only when run.

Local workers re-import the script that started them (datatrove's fork server imports `__main__` as
`__mp_main__`); importing nothing here at module level keeps that import free."""

from __future__ import annotations

import sys


def main() -> int:
    from smolprep.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
