# Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
"""Builds the extension weightless._weightless with the repository's CMake project.

The package metadata is in pyproject.toml; this file supplies the version (parsed from
lib/include/weightless/version.h, as CMake does) and the build step. It must run inside
a checkout of the repository (pip builds local directories in place). Setuptools' and
CMake's build trees go to <repo>/build/python-package (or $WEIGHTLESS_PYTHON_BUILD_DIR),
so a second install rebuilds only what changed and the source tree stays clean.
CMAKE_BUILD_PARALLEL_LEVEL sets the build's parallelism.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUILD = pathlib.Path(os.environ.get("WEIGHTLESS_PYTHON_BUILD_DIR")
                     or ROOT / "build" / "python-package").resolve()


def version():
    text = (ROOT / "lib" / "include" / "weightless" / "version.h").read_text()
    return ".".join(re.search(rf"#define WEIGHTLESS_VERSION_{part} +(\d+)", text).group(1)
                    for part in ("MAJOR", "MINOR", "PATCH"))


class CMakeBuild(build_ext):
    """Configures the repository with only the Python module enabled and builds it."""

    def build_extension(self, ext):
        cmake_dir = pathlib.Path(self.build_temp).resolve() / "cmake"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(cmake_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DWEIGHTLESS_BUILD_PYTHON=ON",
            "-DWEIGHTLESS_BUILD_TESTS=OFF",
            "-DWEIGHTLESS_BUILD_TOOLS=OFF",
            "-DWEIGHTLESS_BUILD_BENCH=OFF",
            f"-DPython3_EXECUTABLE={sys.executable}",
        ]
        if not (cmake_dir / "CMakeCache.txt").exists() and shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        subprocess.run(configure, check=True)
        build = ["cmake", "--build", str(cmake_dir), "--target", "weightless_python"]
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or self.parallel
        if jobs:
            build += ["--parallel", str(jobs)]
        subprocess.run(build, check=True)

        built = sorted((cmake_dir / "bindings" / "python" / "weightless").glob("_weightless*.so"))
        if len(built) != 1:
            raise RuntimeError(f"expected one built _weightless module, found {built}")
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], target)


BUILD.mkdir(parents=True, exist_ok=True)
setup(
    version=version(),
    ext_modules=[Extension("weightless._weightless", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": str(BUILD)}, "egg_info": {"egg_base": str(BUILD)}},
    zip_safe=False,
)
