"""The task environments' pip shim: pip's options mapped onto uv's, pip-only no-ops dropped."""

import os
import subprocess
from pathlib import Path

from sluice.runtime.environments import Environments
from sluice.runtime.pip_shim import translate


def test_kfp_prefix_translates() -> None:
    args = ["install", "--quiet", "--no-warn-script-location", "kfp==2.17.3", "--no-deps",
            'typing-extensions>=3.7.4,<5; python_version<"3.9"']
    assert translate(args) == ["install", "--quiet", "kfp==2.17.3", "--no-deps",
                               'typing-extensions>=3.7.4,<5; python_version<"3.9"']


def test_index_options_keep_their_meaning() -> None:
    args = ["install", "--index-url", "http://mirror/simple", "--trusted-host", "mirror", "--trusted-host=other",
            "--user", "pkg"]
    assert translate(args) == ["install", "--index-url", "http://mirror/simple", "--allow-insecure-host", "mirror",
                               "--allow-insecure-host=other", "pkg"]


def test_the_environments_python_hands_pip_installs_to_uv(envs_dir: Path) -> None:
    env = Environments(envs_dir).for_task("python:3.11", "kfp-2.17.3")
    variables = env.variables(dict(os.environ))
    # kfp's own prefix, with an argument holding spaces and quotes: a no-op, answered by uv without Python
    prefix = ["python3", "-m", "pip", "install", "--quiet", "--no-warn-script-location", "kfp==2.17.3", "--no-deps",
              'typing-extensions>=3.7.4,<5; python_version<"3.9"']
    done = subprocess.run(prefix, env=variables, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    where = subprocess.run(["python3", "-c", "import sys, kfp; print(sys.prefix, kfp.__version__)"],
                           env={**variables, "_KFP_RUNTIME": "true"}, capture_output=True, text=True, check=True)
    assert where.stdout.split() == [str(env.path), "2.17.3"]
    listed = subprocess.run(["python3", "-m", "pip", "list"], env=variables, capture_output=True, text=True,
                            check=False)
    assert listed.returncode == 0 and "kfp" in listed.stdout  # other pip commands: the Python shim
