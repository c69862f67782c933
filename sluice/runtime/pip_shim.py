"""`pip` inside a task environment: the same requests, carried out by uv (tens of ms instead of ~300 ms).

This file is copied into each task environment as the `pip` package's `__main__`, so a component's own
`python3 -m pip install ...` (kfp's lightweight-component prefix, `packages_to_install`) installs into
that environment, never into Sluice's. Only the standard library may be used here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# pip options uv does not know and that change nothing inside a virtualenv: flags, and `--option=value` forms
DROP = ("--no-warn-script-location", "--user", "--disable-pip-version-check", "--no-input", "-y", "--yes",
        "--no-color")
DROP_WITH_VALUE = ("--progress-bar", "--root-user-action")
# pip options uv knows by another name
RENAME = {"--trusted-host": "--allow-insecure-host"}
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


def main() -> None:
    """Re-exec as `uv pip ... --python <this interpreter>`."""
    uv = (Path(__file__).parent / "uv_path").read_text().strip()
    args = translate(sys.argv[1:])
    if not args or args[0] not in _SUBCOMMANDS:
        sys.stderr.write(f"sluice's pip supports {', '.join(sorted(_SUBCOMMANDS))}; got {' '.join(sys.argv[1:])}\n")
        raise SystemExit(2)
    os.execv(uv, [uv, "pip", args[0], "--python", sys.executable, *args[1:]])


if __name__ == "__main__":
    main()
