"""Task environments: an isolated virtualenv per (image, SDK version), created once and reused.

A lightweight component's command pip-installs `kfp==<sdk version> --no-deps` before it runs. Run
against Sluice's own interpreter that would install into Sluice's environment; here every task runs
with a venv's `bin/` first on PATH, and the venv already holds the SDK version the IR names in
`sdkVersion`, so the component's own install is a no-op that touches only the venv. The venv's `pip`
is a shim that hands the same request to uv (`pip_shim.py`): the no-op costs ~30 ms instead of ~300 ms,
and `packages_to_install` still get installed, into the venv. The image is recorded, not pulled: no
container runtime is assumed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import uv

from sluice.runtime.pip_shim import DROP, DROP_WITH_VALUE, RENAME

_READY = ".sluice-ready"
_LAYOUT = 4  # bump when what a task environment holds changes, so old ones are not reused
# Variables of Sluice's own interpreter that must not leak into a task's interpreter.
_SCRUB = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONDA_PREFIX", "PIP_TARGET", "PIP_PREFIX")


class EnvironmentFailure(Exception):
    """A task environment could not be created (the task fails with this message)."""


@dataclass(frozen=True)
class TaskEnvironment:
    """A ready virtualenv for tasks."""

    path: Path

    @property
    def bin_dir(self) -> Path:
        """The venv's executables directory."""
        return self.path / "bin"

    def variables(self, base: dict[str, str]) -> dict[str, str]:
        """`base` with the venv activated and Sluice's own interpreter settings removed."""
        env = {k: v for k, v in base.items() if k not in _SCRUB}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{base.get('PATH', os.defpath)}"
        env["VIRTUAL_ENV"] = str(self.path)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env.setdefault("UV_NATIVE_TLS", "1")  # the shim's uv trusts the system's CAs, as pip does
        return env


def _sdk_requirement(sdk_version: str) -> str | None:
    match = re.fullmatch(r"kfp-(\d+\.\d+\.\d+\S*)", sdk_version)
    return f"kfp=={match.group(1)}" if match else None


def _install_pip_shim(env: TaskEnvironment, uv_bin: str) -> None:
    site = next((env.path / "lib").glob("python*/site-packages"))
    package = site / "pip"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text('"""Sluice\'s pip shim: requests are carried out by uv."""\n')
    (package / "__main__.py").write_text((Path(__file__).parent / "pip_shim.py").read_text())
    (package / "uv_path").write_text(uv_bin)
    launcher = env.bin_dir / "pip"
    interpreter = env.bin_dir / site.parent.name
    launcher.write_text(f"#!{interpreter}\nimport runpy\nrunpy.run_module('pip', run_name='__main__')\n")
    launcher.chmod(0o755)
    _install_interpreter_front(env, uv_bin, site.parent.name)


# `python3 -m pip install ...` (kfp's lightweight-component prefix, `packages_to_install`) goes straight to
# uv, without starting Python first: that start was two thirds of a no-op install. Options pip knows and
# uv does not are dropped or renamed by pip_shim's tables; every other use of `python` is the interpreter.
_FRONT = """#!/bin/sh
# Written by Sluice (sluice/runtime/environments.py): `python -m pip install` is run by uv.
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
  shift 3
  n=$#
  while [ "$n" -gt 0 ]; do
    a=$1; shift; n=$((n - 1))
    case $a in
{cases}
      *) set -- "$@" "$a" ;;
    esac
  done
  UV_NATIVE_TLS=${UV_NATIVE_TLS:-1} exec "{uv}" pip install --python "{python}" "$@"
fi
exec "{python}" "$@"
"""


def _cases() -> str:
    """The `case` branches of the sh front, from pip_shim's tables (one list of pip's options, not two)."""
    lines = ["      " + "|".join([*DROP, *(f"{o}=*" for o in DROP_WITH_VALUE)]) + ") ;;"]
    for old, new in RENAME.items():
        lines.append(f'      {old}) set -- "$@" {new} ;;')
        lines.append(f'      {old}=*) set -- "$@" "{new}=${{a#{old}=}}" ;;')
    return "\n".join(lines)


def _install_interpreter_front(env: TaskEnvironment, uv_bin: str, version_name: str) -> None:
    real = env.bin_dir / version_name  # python3.11: the interpreter itself (a link to the base Python)
    base = os.path.realpath(env.bin_dir / "python")
    for name in ("python", "python3", version_name):
        (env.bin_dir / name).unlink(missing_ok=True)
    real.symlink_to(base)
    for name in ("python", "python3"):
        front = env.bin_dir / name
        front.write_text(_FRONT.replace("{uv}", uv_bin).replace("{python}", str(real)).replace("{cases}", _cases()))
        front.chmod(0o755)


class Environments:
    """Creates and caches task environments under one directory."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root
        self.python = python
        self._lock = threading.Lock()
        self._ready: dict[str, TaskEnvironment] = {}

    def for_task(self, image: str, sdk_version: str) -> TaskEnvironment:
        """The environment for tasks of `image` compiled by `sdk_version`, created on first use."""
        requirement = _sdk_requirement(sdk_version)
        key = hashlib.sha256(f"{_LAYOUT}\0{image}\0{requirement}\0{sys.version_info[:2]}".encode()).hexdigest()[:16]
        with self._lock:
            if key in self._ready:
                return self._ready[key]
            env = TaskEnvironment(self.root / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', image)[:40]}-{key}")
            self._create(env, requirement)
            self._ready[key] = env
            return env

    def _create(self, env: TaskEnvironment, requirement: str | None) -> None:
        env.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{env.path}.lock", "w") as lock:  # another Sluice process may be creating it too
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (env.path / _READY).exists():
                return
            uv_bin = uv.find_uv_bin()
            self._run([uv_bin, "venv", "--quiet", "--allow-existing", "--python", self.python, str(env.path)])
            if requirement:
                self._run([uv_bin, "pip", "install", "--quiet", "--compile-bytecode",
                           "--python", str(env.bin_dir / "python"),
                           requirement, "--no-deps"])
            _install_pip_shim(env, uv_bin)
            (env.path / _READY).write_text(requirement or "")

    @staticmethod
    def _run(argv: list[str]) -> None:
        # UV_NATIVE_TLS: trust the system's certificate store (pip does; uv's own bundle lacks local CAs)
        env = {"UV_NATIVE_TLS": "1", **os.environ}
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise EnvironmentFailure(f"creating the task environment failed: {' '.join(argv)}: {done.stderr.strip()}")
