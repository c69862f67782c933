"""Task environments: an isolated virtualenv per (image, SDK version), created once and reused.

A lightweight component's command pip-installs `kfp==<sdk version> --no-deps` before it runs. Run
against Sluice's own interpreter that would install into Sluice's environment; here every task runs
with a venv's `bin/` first on PATH, and the venv already holds the SDK version the IR names in
`sdkVersion`. The venv itself is never installed into after it is made: a task's `pip install` goes to
an install dir of its own (pip_shim.py), which only that task and tasks asking for the same packages
see, and a request that was answered before costs a file test instead of pip's ~300 ms no-op. The
image is recorded, not pulled: no container runtime is assumed.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import uv

_READY = ".sluice-ready"
_LAYOUT = 5  # bump when what a task environment holds changes, so old ones are not reused
_CLIENT = Path(__file__).with_name("warm_client.py")
_SHIM = Path(__file__).with_name("pip_shim.py")
# uv trusts the system's certificate store, as pip does (uv's own bundle lacks local CAs): for the
# environments' creation and for the installs tasks make (pip_shim.py runs with the tasks' variables).
_UV_DEFAULTS = {"UV_NATIVE_TLS": "1"}
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

    @property
    def site_packages(self) -> Path:
        """The venv's site-packages (`lib/pythonX.Y/site-packages`)."""
        return next((self.path / "lib").glob("python*/site-packages"))

    @property
    def interpreter(self) -> Path:
        """The venv's interpreter itself, `bin/pythonX.Y` (`python`/`python3` are Sluice's fronts to it)."""
        return self.bin_dir / self.site_packages.parent.name

    def variables(self, base: dict[str, str]) -> dict[str, str]:
        """`base` with the venv activated and Sluice's own interpreter settings removed."""
        env = {k: v for k, v in base.items() if k not in _SCRUB}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{base.get('PATH', os.defpath)}"
        env["VIRTUAL_ENV"] = str(self.path)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        for key, value in _UV_DEFAULTS.items():
            env.setdefault(key, value)
        return env


def _sdk_requirement(sdk_version: str) -> str | None:
    match = re.fullmatch(r"kfp-(\d+\.\d+\.\d+\S*)", sdk_version)
    return f"kfp=={match.group(1)}" if match else None


def _install_fronts(env: TaskEnvironment, uv_bin: str) -> None:
    """Sluice's files in the environment: the pip shim, the warm client and the `python`/`pip` fronts."""
    site = env.site_packages
    ours = env.path / "sluice"
    ours.mkdir(exist_ok=True)
    (env.path / "installs").mkdir(exist_ok=True)  # the tasks' install dirs (pip_shim.py)
    (ours / "uv_path").write_text(uv_bin)
    for source in (_SHIM, _CLIENT):
        (ours / source.name).write_text(source.read_text())
    package = site / "pip"  # `python -m pip` with the interpreter itself (not through the front)
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text('"""Sluice\'s pip shim: requests are carried out by uv."""\n')
    shim = str(ours / _SHIM.name)
    (package / "__main__.py").write_text(f"import runpy\nrunpy.run_path({shim!r}, run_name='__main__')\n")
    real = env.interpreter  # python3.11: the interpreter itself (a link to the base Python)
    base = os.path.realpath(env.bin_dir / "python")
    for name in ("python", "python3", real.name, "pip", "pip3"):
        (env.bin_dir / name).unlink(missing_ok=True)
    real.symlink_to(base)
    for name in ("python", "python3"):
        (env.bin_dir / name).write_text(_front(str(real), str(ours), str(env.path / "installs")))
    for name in ("pip", "pip3"):
        (env.bin_dir / name).write_text(f'#!/bin/sh\nexec "{env.bin_dir / "python3"}" -m pip "$@"\n')
    for name in ("python", "python3", "pip", "pip3"):
        (env.bin_dir / name).chmod(0o755)


# The environment's `python`/`python3` is this sh front to the interpreter:
# - `python3 -m pip install ARGS` (kfp's lightweight-component prefix, `packages_to_install`) is answered
#   by a file test when ARGS were installed before (pip_shim.py says where installs go), without starting
#   any Python; the first time, pip_shim.py installs them with uv.
# - the task's install dirs, listed in $SLUICE_TASK_SITE, go first on PYTHONPATH;
# - `python3 -m kfp.dsl.executor_main ...` (the end of every lightweight component's command) goes to the
#   environment's warm executor when the task was given one (warm.py); warm_client.py falls back to the
#   interpreter itself whenever the executor is not there or declines.
# Every other use is the interpreter itself.
_FRONT = """#!/bin/sh
# Written by Sluice (sluice/runtime/environments.py)
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ] && [ -n "$SLUICE_TASK_SITE" ]; then
  shift 3
  key=$(printf '%s\\000' "$@" | sha256sum)
  dir="{installs}/${key%% *}"
  if [ -e "$dir/ok" ]; then
    if [ -d "$dir/site" ]; then printf '%s\\n' "$dir/site" >> "$SLUICE_TASK_SITE"; fi
    exit 0
  fi
  exec "{python}" -I -S "{ours}/pip_shim.py" install "$@"
fi
if [ -n "$SLUICE_TASK_SITE" ] && [ -s "$SLUICE_TASK_SITE" ]; then
  p=
  while IFS= read -r d; do p="$d${p:+:$p}"; done < "$SLUICE_TASK_SITE"
  PYTHONPATH="$p${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONPATH
fi
if [ "$1" = "-m" ] && [ "$2" = "kfp.dsl.executor_main" ] && [ -n "$SLUICE_WARM_SOCKET" ]; then
  exec "{python}" -I -S "{ours}/warm_client.py" "$@"
fi
exec "{python}" "$@"
"""


def _front(python: str, ours: str, installs: str) -> str:
    return _FRONT.replace("{python}", python).replace("{ours}", ours).replace("{installs}", installs)


@functools.cache
def _content() -> str:
    """A digest of what Sluice writes into an environment: one made by another version is not reused."""
    return hashlib.sha256("\0".join([_FRONT, _CLIENT.read_text(), _SHIM.read_text()]).encode()).hexdigest()


class Environments:
    """Creates and caches task environments under one directory."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root
        self.python = python
        self._lock = threading.Lock()  # guards _creating
        self._creating: dict[str, threading.Lock] = {}  # one per environment: only its own tasks wait for it
        self._ready: dict[str, TaskEnvironment] = {}

    def for_task(self, image: str, sdk_version: str) -> TaskEnvironment:
        """The environment for tasks of `image` compiled by `sdk_version`, created on first use."""
        requirement = _sdk_requirement(sdk_version)
        key = hashlib.sha256(f"{_LAYOUT}\0{_content()}\0{image}\0{requirement}\0{sys.version_info[:2]}"
                             .encode()).hexdigest()[:16]
        ready = self._ready.get(key)
        if ready is not None:
            return ready
        with self._lock:
            creating = self._creating.setdefault(key, threading.Lock())
        with creating:
            if key not in self._ready:
                env = TaskEnvironment(self.root / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', image)[:40]}-{key}")
                self._create(env, requirement)
                self._ready[key] = env
            return self._ready[key]

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
            _install_fronts(env, uv_bin)
            (env.path / _READY).write_text(requirement or "")

    @staticmethod
    def _run(argv: list[str]) -> None:
        env = {**_UV_DEFAULTS, **os.environ}
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise EnvironmentFailure(f"creating the task environment failed: {' '.join(argv)}: {done.stderr.strip()}")
