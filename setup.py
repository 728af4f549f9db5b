"""Puts the shipped folders (configs/, cluster/, slurm_templates/, sample/) into the wheel.

They stay at the top of the checkout, where DESIGN.md places them and where an editable install reads
them. A non-editable build copies them into the package as ``smolprep/shipped/<folder>``, which
``smolprep.paths`` falls back to when there is no checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_FOLDERS = ("configs", "cluster", "slurm_templates", "sample")
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.py", "*.pyc", "raw")  # data only, no rebuild scripts


class BuildPyWithShippedFolders(build_py):
    """``build_py`` that also copies the shipped folders next to the package's modules."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "smolprep" / "shipped"
        for folder in SHIPPED_FOLDERS:
            shutil.copytree(root / folder, target / folder, ignore=NOT_SHIPPED, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithShippedFolders})
