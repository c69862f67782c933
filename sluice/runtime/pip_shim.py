"""`pip` inside a task environment: the same requests, carried out by uv, each install kept to its task.

A task environment (environments.py) is never installed into after it is made. `pip install ARGS` in a
task (kfp's lightweight-component prefix, `packages_to_install`) installs into an *install dir* of its
own, `{env}/installs/<sha256 of ARGS>/site`, with `uv pip install --target`; distributions that the
environment already holds at the same version are removed from it again, so an install that changes
nothing leaves no dir at all. The task's later `python3` sees its install dirs (newest first) on
PYTHONPATH, through the list in `$SLUICE_TASK_SITE` that the environment's `python3` front reads. Two
tasks asking for the same ARGS share the dir; tasks asking for other packages never see them.

An install dir is made once, under a lock, and marked done; after that the sh front answers the same
request with a file test (~2 ms instead of ~300 ms for pip's own no-op). ARGS that name files, or ask to
upgrade or reinstall, are installed again for each task, into a dir next to `$SLUICE_TASK_SITE`.

This file runs in the task environment's interpreter (`-I -S`): only the standard library may be used.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# pip options uv does not know and that change nothing here: flags, and `--option=value` forms
DROP = ("--no-warn-script-location", "--user", "--disable-pip-version-check", "--no-input", "-y", "--yes",
        "--no-color")
DROP_WITH_VALUE = ("--progress-bar", "--root-user-action")
# pip options uv knows by another name
RENAME = {"--trusted-host": "--allow-insecure-host"}
# options whose result is not a function of the arguments alone: installed afresh for every task
_NOT_CACHED = ("-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-U", "--upgrade",
               "--force-reinstall")
_SUBCOMMANDS = {"install", "uninstall", "list", "freeze", "show", "check"}


def translate(args: list[str]) -> list[str]:
    """pip's argv (after `pip`) as uv's (after `uv pip`); pip-only options that are no-ops here are dropped."""
    out: list[str] = []
    for arg in args:
        name, sep, value = arg.partition("=")
        if arg in DROP or (sep and name in DROP_WITH_VALUE):
            continue
        if name in RENAME:
            out.append(f"{RENAME[name]}{sep}{value}")
        else:
            out.append(arg)
    return out


def install_key(args: list[str]) -> str:
    """The install dir's name: what the sh front computes with `printf '%s\\000' "$@" | sha256sum`."""
    return hashlib.sha256(b"".join(os.fsencode(a) + b"\0" for a in args)).hexdigest()


def cacheable(args: list[str]) -> bool:
    """Whether the same ARGS always ask for the same packages (no files, no upgrades)."""
    for arg in args:
        if arg.partition("=")[0] in _NOT_CACHED or (not arg.startswith("-") and os.path.exists(arg)):
            return False
        short = arg[1:] if arg.startswith("-") and not arg.startswith("--") else ""
        if short and (short[0] in "rce" or "U" in short):  # -rreq.txt, -e., -qU: pip's joined short options
            return False
    return True


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _distributions(site: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        found[(_normalise(name), version)] = info
    return found


def _recorded(info: Path) -> set[str]:
    return {line.rsplit(",", 2)[0] for line in (info / "RECORD").read_text().splitlines() if line}


def drop_duplicates(site: Path, base: Path) -> None:
    """Remove from `site` every distribution that `base` holds at the same version (by its RECORD)."""
    held = _distributions(base)
    found = _distributions(site)
    duplicates = {key: info for key, info in found.items() if key in held and (info / "RECORD").exists()}
    kept: set[str] = set()  # files a distribution that stays also lists (a namespace package's __init__)
    for key, info in found.items():
        if key not in duplicates and (info / "RECORD").exists():
            kept.update(_recorded(info))
    for info in duplicates.values():
        for name in _recorded(info) - kept:
            path = site / name
            if path.is_file() or path.is_symlink():
                path.unlink()
        shutil.rmtree(info, ignore_errors=True)
    for directory, _, files in sorted(os.walk(site), key=lambda entry: -len(entry[0])):
        here = Path(directory)
        if here.name == "__pycache__" and not any(here.parent.glob("*.py")):
            shutil.rmtree(here)
        elif here != site and not files and not any(here.iterdir()):
            here.rmdir()


_ENV = Path(__file__).resolve().parent.parent  # this file is {env}/sluice/pip_shim.py (sys.prefix needs site)


def _uv(args: list[str]) -> list[str]:
    """`uv pip <args>` against this environment's interpreter (args[0] is the pip subcommand)."""
    uv = (_ENV / "sluice" / "uv_path").read_text().strip()
    return [uv, "pip", args[0], "--python", sys.executable, *args[1:]]


def _base_site() -> Path:
    return next((_ENV / "lib").glob("python*/site-packages"))


def install(args: list[str], task_site: Path) -> int:
    """`pip install ARGS` for the task whose install-dir list is `task_site`; uv's exit code."""
    installs = _ENV / "installs"
    key = install_key(args)
    done = installs / key
    if cacheable(args):
        with open(installs / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (done / "ok").exists():
                partial = installs / f"{key}.partial"
                code = _install_into(partial, args)
                if code:
                    return code
                (partial / "ok").write_text(" ".join(args))  # inside, so a dir named `key` is always complete
                shutil.rmtree(done, ignore_errors=True)  # left by a Sluice that died mid-rename (no `ok`)
                partial.rename(done)
    else:
        done = task_site.parent / f"install-{key[:16]}"
        code = _install_into(done, args)
        if code:
            return code
    if (done / "site").is_dir():
        with open(task_site, "a") as listing:
            listing.write(f"{done / 'site'}\n")
    return 0


def _install_into(target: Path, args: list[str]) -> int:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    site = target / "site"
    code = subprocess.run(_uv(["install", "--target", str(site), *translate(args)]), check=False).returncode
    if code == 0 and site.is_dir():
        (site / ".lock").unlink(missing_ok=True)  # uv's, for the install just made
        drop_duplicates(site, _base_site())
        if not any(site.iterdir()):
            site.rmdir()
    return code


def main() -> None:
    """`python -m pip ...` in a task environment."""
    given = sys.argv[1:]
    at = next((i for i, a in enumerate(given) if a in _SUBCOMMANDS), None)
    if at is None:
        sys.stderr.write(f"sluice's pip supports {', '.join(sorted(_SUBCOMMANDS))}; got {' '.join(given)}\n")
        raise SystemExit(2)
    command, options = given[at], given[:at] + given[at + 1:]  # pip's general options may come first
    task_site = os.environ.get("SLUICE_TASK_SITE")
    if command == "install" and task_site:
        raise SystemExit(install(options, Path(task_site)))
    os.execv((argv := _uv([command, *translate(options)]))[0], argv)  # other commands, installs outside a task


if __name__ == "__main__":
    main()
