"""Build hook: ship the top-level `pipelines/*.toml` inside the package (deblur_tf/pipelines/ in the wheel).

`pipelines/` stays where it is in the checkout, the one place pipelines are written and edited (and the
name `deblur-tf train -p NAME` looks up); package-data can only take files inside a package folder, so the
build copies them into the built package instead of the repository keeping a second copy. Everything else
about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithPipelines(build_py):
    """`build_py`, plus pipelines/*.toml -> <build>/deblur_tf/pipelines/ (editable installs read the checkout)."""

    def run(self) -> None:
        super().run()
        sources = sorted((HERE / "pipelines").glob("*.toml"))
        if not sources:
            raise SystemExit(f"{HERE / 'pipelines'}: no pipeline TOML files to package")
        target = Path(self.build_lib) / "deblur_tf" / "pipelines"
        target.mkdir(parents=True, exist_ok=True)
        for src in sources:
            shutil.copy2(src, target / src.name)


setup(cmdclass={"build_py": BuildPyWithPipelines})
