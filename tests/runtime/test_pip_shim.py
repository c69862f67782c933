"""The task environments' pip shim: pip's options mapped onto uv's, pip-only no-ops dropped."""

import os
import subprocess
from pathlib import Path

from sluice.runtime.environments import Environments
from sluice.runtime.pip_shim import cacheable, drop_duplicates, install_key, translate


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


KFP_PREFIX = ["--quiet", "--no-warn-script-location", "kfp==2.17.3", "--no-deps",
              'typing-extensions>=3.7.4,<5; python_version<"3.9"']


def _pip(variables: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["python3", "-m", "pip", "install", *args], env=variables, capture_output=True, text=True,
                          check=False)


def test_an_install_the_environment_already_satisfies_leaves_nothing_and_is_answered_without_python(
    tmp_path: Path,
) -> None:
    env = Environments(tmp_path / "envs").for_task("python:3.11", "kfp-2.17.3")
    site_list = tmp_path / "task-site"
    variables = {**env.variables(dict(os.environ)), "SLUICE_TASK_SITE": str(site_list)}
    first = _pip(variables, KFP_PREFIX)  # the first time, uv installs and the duplicate of kfp is dropped
    assert first.returncode == 0, first.stderr
    done = env.path / "installs" / install_key(KFP_PREFIX)
    assert (done / "ok").exists() and not (done / "site").exists()
    assert not site_list.exists()  # nothing to put on the task's path
    shim = env.path / "sluice" / "pip_shim.py"
    shim.rename(shim.with_suffix(".away"))  # any Python start would now fail: the answer must come from sh
    try:
        again = _pip(variables, KFP_PREFIX)
        odd = ["--quiet", "a b", "it's", 'say "x"', "line\nbreak", "ünï", "*", "$HOME"]
        (env.path / "installs" / install_key(odd)).mkdir()
        (env.path / "installs" / install_key(odd) / "ok").write_text("")
        same_key = _pip(variables, odd)  # the sh front's key is pip_shim's key, whatever the arguments
    finally:
        shim.with_suffix(".away").rename(shim)
    assert again.returncode == 0, again.stderr
    assert same_key.returncode == 0, same_key.stderr
    where = subprocess.run(["python3", "-c", "import sys, kfp; print(sys.prefix, kfp.__version__)"],
                           env={**variables, "_KFP_RUNTIME": "true"}, capture_output=True, text=True, check=True)
    assert where.stdout.split() == [str(env.path), "2.17.3"]
    listed = subprocess.run(["python3", "-m", "pip", "list"], env=variables, capture_output=True, text=True,
                            check=False)
    assert listed.returncode == 0 and "kfp" in listed.stdout  # other pip commands: uv, on the environment


def test_files_and_upgrades_are_installed_for_each_task() -> None:
    assert cacheable(KFP_PREFIX)
    assert not cacheable(["-r", "requirements.txt"]) and not cacheable(["--requirement=req.txt"])
    assert not cacheable(["-U", "pandas"]) and not cacheable(["--force-reinstall", "pandas"])
    assert not cacheable([str(Path(__file__))])  # a local path: its contents may change


def test_joined_short_options_are_seen() -> None:
    assert not cacheable(["-qU", "pandas"]) and not cacheable(["-rreq.txt"]) and not cacheable(["-e."])
    assert cacheable(["-q", "pandas==2.2.3"])


def _dist(site: Path, name: str, version: str, files: dict[str, str]) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (info / "RECORD").write_text("".join(f"{rel},sha256=x,1\n" for rel in files) + f"{info.name}/RECORD,,\n")


def test_dropping_duplicates_keeps_what_the_other_distributions_list(tmp_path: Path) -> None:
    base, site = tmp_path / "base", tmp_path / "site"
    _dist(base, "same", "1.0", {"ns/__init__.py": "", "ns/same.py": ""})
    _dist(site, "same", "1.0", {"ns/__init__.py": "", "ns/same.py": ""})  # what base holds: dropped
    _dist(site, "other", "2.0", {"ns/__init__.py": "", "ns/other.py": ""})  # stays, with the shared file
    _dist(base, "newer", "1.0", {"newer.py": "old"})
    _dist(site, "newer", "1.1", {"newer.py": "new"})  # another version: stays
    drop_duplicates(site, base)
    left = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert left == ["newer-1.1.dist-info/RECORD", "newer.py", "ns/__init__.py", "ns/other.py",
                    "other-2.0.dist-info/RECORD"]
