"""The README's first command, as a new user runs it: a fresh venv with Sluice alone runs the example."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_first_readme_command_on_a_fresh_virtualenv(tmp_path: Path) -> None:
    first = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].splitlines()[0]
    assert re.fullmatch(r"python3 -m venv \.venv && \.venv/bin/pip install -e \. && "
                        r"\.venv/bin/sluice run examples/hello_pipeline\.yaml", first), first
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # the same install (without the test extras), from this checkout
    install = subprocess.run([str(venv / "bin/pip"), "install", "-q", str(ROOT)], capture_output=True, text=True,
                             check=False)
    assert install.returncode == 0, install.stderr[-2000:]
    # a new user's shell: this machine's environment, a new home, no Sluice settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "VIRTUAL_ENV"))}
    env.update(HOME=str(tmp_path / "home"), CI="true")
    done = subprocess.run([str(venv / "bin/sluice"), "run", "examples/hello_pipeline.yaml"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SUCCEEDED" in done.stderr
    assert (tmp_path / "home" / ".sluice" / "sluice.db").exists()  # the embedded default, under ~/.sluice
