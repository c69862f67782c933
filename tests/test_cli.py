"""The `sluice` command line, run for real as a subprocess on a temp root (README: options, exit codes, --json).

Fixture pipelines are compiled at test time by the real kfp compiler; hand-written YAML only for invalid input.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kfp import compiler, dsl

from tests.five_stages import five_stages
from tests.runtime.test_control_flow import branches, loops
from tests.support import alive, sluice_env

REPO = Path(__file__).parents[1]
EXAMPLE = REPO / "examples" / "hello_pipeline.yaml"
CONSOLE_SCRIPT = Path(sys.executable).parent / "sluice"
MARKER = "SLUICE-CLI-TEST-MARKER-4711"


# ---------------------------------------------------------------- fixture pipelines (stdlib-only components)


@dsl.component(base_image="python:3.11")
def show_types(n: int, x: float, flag: bool, xs: list, d: dict) -> str:
    """Returns each value with the Python type the task received it as."""
    import json

    return json.dumps({k: [v, type(v).__name__] for k, v in {"n": n, "x": x, "flag": flag, "xs": xs, "d": d}.items()})


@dsl.pipeline(name="typed-params")
def typed_pipeline(n: int, x: float, flag: bool, xs: list, d: dict) -> str:
    return show_types(n=n, x=x, flag=flag, xs=xs, d=d).output


@dsl.component(base_image="python:3.11")
def explode(word: str) -> None:
    """Prints a distinctive line, then fails."""
    print(f"about to fail: {word}", flush=True)
    raise RuntimeError("deliberate failure for the CLI test")


@dsl.pipeline(name="failing-pipeline")
def failing_pipeline(word: str = MARKER) -> None:
    explode(word=word)


@dsl.container_component
def sleepy(pid_file: str) -> dsl.ContainerSpec:
    """A long sleep that also spawns a child; writes "<shell pid> <child pid>" to pid_file once both run."""
    script = 'sleep 60 & echo "$$ $!" > "$0.tmp" && mv "$0.tmp" "$0"; sleep 60'
    return dsl.ContainerSpec(image="alpine:3.20", command=["sh", "-c", script], args=[pid_file])


@dsl.pipeline(name="sleepy-pipeline")
def sleepy_pipeline(pid_file: str) -> None:
    sleepy(pid_file=pid_file)


@dsl.component(base_image="python:3.11")
def speak(word: str) -> str:
    print(f"speak says {word}", flush=True)
    return word


@dsl.container_component
def shout(word: str) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="alpine:3.20", command=["echo", "shout says"], args=[word])


@dsl.pipeline(name="talky-pipeline")
def talky_pipeline() -> None:
    said = speak(word="alpha-from-speak")
    shout(word="beta-from-shout").after(said)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fixture pipelines above, compiled once for the module."""
    out = tmp_path_factory.mktemp("compiled")
    paths: dict[str, Path] = {}
    for name, fn in {"typed": typed_pipeline, "failing": failing_pipeline, "sleepy": sleepy_pipeline,
                     "talky": talky_pipeline}.items():
        paths[name] = out / f"{name}.yaml"
        compiler.Compiler().compile(fn, str(paths[name]))
    return paths


# ---------------------------------------------------------------- running the CLI


def cli_env(root: Path, envs_dir: Path) -> dict[str, str]:
    """The caller's environment minus any SLUICE_* / terminal-size settings, on `root` with the shared envs."""
    return sluice_env(root, SLUICE_ENVS_DIR=str(envs_dir))


def sluice(root: Path, envs_dir: Path, *args: str | Path, script: bool = False,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m sluice ARGS` (or the `sluice` console script), run to the end, output captured."""
    command = [str(CONSOLE_SCRIPT)] if script else [sys.executable, "-m", "sluice"]
    return subprocess.run([*command, *map(str, args)], env=cli_env(root, envs_dir), cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


def squeezed(text: str) -> str:
    """Text without any whitespace: rich wraps (and breaks words of) stderr lines at the console width."""
    return "".join(text.split())


def job_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """stdout parsed as exactly one JSON document."""
    assert result.stdout.strip(), f"no JSON on stdout; stderr:\n{result.stderr}"
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def task_detail(job: dict[str, Any], name: str) -> dict[str, Any]:
    found = [t for t in job["jobDetail"]["taskDetails"] if t["taskName"] == name]
    assert found, f"no task {name!r}: {[t['taskName'] for t in job['jobDetail']['taskDetails']]}"
    return found[0]


def root_task(job: dict[str, Any]) -> dict[str, Any]:
    roots = [t for t in job["jobDetail"]["taskDetails"] if "parentTaskId" not in t]
    assert len(roots) == 1, roots
    return roots[0]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


# ---------------------------------------------------------------- 1, 2: a successful run, table and --json


def test_run_example_with_console_script_succeeds_and_shows_task_table(root: Path, envs_dir: Path) -> None:
    result = sluice(root, envs_dir, "run", EXAMPLE, script=True)

    assert result.returncode == 0, result.stderr
    for name in ("make-numbers", "summarise", "announce"):
        assert name in result.stderr
    assert "SUCCEEDED" in result.stderr
    assert "hello-sluice-" in result.stderr  # the job id in the table title / final line


def test_run_json_is_one_pipeline_job_document_with_ids_name_and_labels(root: Path, envs_dir: Path) -> None:
    result = sluice(root, envs_dir, "run", EXAMPLE, "--json", "--job-id", "my-job-1",
                    "--display-name", "D", "--label", "team=ml", "-p", "count=4", "-p", "scale=2")

    assert result.returncode == 0, result.stderr
    job = job_json(result)
    assert job["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert job["name"].startswith("projects/")
    assert job["name"].endswith("/pipelineJobs/my-job-1")
    assert "/locations/" in job["name"]
    assert job["displayName"] == "D"
    assert job["labels"]["team"] == "ml"
    assert job["labels"]["vertex-ai-pipelines-run-billing-id"].isdigit()
    names = {t["taskName"] for t in job["jobDetail"]["taskDetails"]}
    assert {"make-numbers", "summarise", "announce"} <= names
    assert all(task_detail(job, n)["state"] == "SUCCEEDED" for n in ("make-numbers", "summarise", "announce"))
    assert root_task(job)["execution"]["metadata"]["output:Output"] == 20.0
    # the human-readable report stays on stderr
    assert "SUCCEEDED" in result.stderr


# ---------------------------------------------------------------- 3: typed -p parsing and --params


def test_p_values_are_parsed_by_declared_type(root: Path, envs_dir: Path, compiled: dict[str, Path]) -> None:
    result = sluice(root, envs_dir, "run", compiled["typed"], "--json",
                    "-p", "n=7", "-p", "x=2", "-p", "flag=true", "-p", "xs=[1,2]", "-p", 'd={"a": 1, "b": [2.0]}')

    assert result.returncode == 0, result.stderr
    job = job_json(result)
    meta = root_task(job)["execution"]["metadata"]
    assert meta["input:n"] == 7 and isinstance(meta["input:n"], int)
    assert meta["input:x"] == 2.0 and isinstance(meta["input:x"], float)
    assert meta["input:flag"] is True
    assert meta["input:xs"] == [1, 2]
    assert meta["input:d"] == {"a": 1, "b": [2]}
    seen = json.loads(task_detail(job, "show-types")["execution"]["metadata"]["output:Output"])
    assert seen == {"n": [7, "int"], "x": [2.0, "float"], "flag": [True, "bool"],
                    "xs": [[1, 2], "list"], "d": [{"a": 1, "b": [2]}, "dict"]}


def test_params_file_is_used_and_p_wins_over_it(root: Path, envs_dir: Path, compiled: dict[str, Path],
                                                tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"n": 1, "x": 0.5, "flag": True, "xs": ["a", "b"], "d": {"k": "v"}}))

    result = sluice(root, envs_dir, "run", compiled["typed"], "--json", "--params", params,
                    "-p", "n=9", "-p", "flag=false")

    assert result.returncode == 0, result.stderr
    meta = root_task(job_json(result))["execution"]["metadata"]
    assert meta["input:n"] == 9
    assert meta["input:flag"] is False
    assert meta["input:x"] == 0.5
    assert meta["input:xs"] == ["a", "b"]
    assert meta["input:d"] == {"k": "v"}


# ---------------------------------------------------------------- 4: a failing task


def test_failing_task_exits_1_and_shows_its_name_and_last_log_lines(root: Path, envs_dir: Path,
                                                                   compiled: dict[str, Path]) -> None:
    result = sluice(root, envs_dir, "run", compiled["failing"], "--json")

    assert result.returncode == 1, result.stderr
    assert "explode" in result.stderr
    assert f"about to fail: {MARKER}" in result.stderr
    assert "deliberate failure for the CLI test" in result.stderr
    assert "FAILED" in result.stderr
    job = job_json(result)
    assert job["state"] == "PIPELINE_STATE_FAILED"
    assert task_detail(job, "explode")["state"] == "FAILED"


# ---------------------------------------------------------------- 5: invalid input: exit 2, nothing run

DANGLING = """\
pipelineInfo:
  name: dangling
schemaVersion: 2.1.0
sdkVersion: kfp-2.17.3
deploymentSpec:
  executors:
    exec-a:
      container:
        image: alpine:3.20
        command: [echo, hi]
components:
  comp-a:
    executorLabel: exec-a
root:
  dag:
    tasks:
      a:
        taskInfo:
          name: a
        componentRef:
          name: comp-missing
"""

INVALID_CASES: dict[str, tuple[list[str], dict[str, str], list[str]]] = {
    # case: (args after `run`, files to write {name: text}, substrings the error must contain)
    "unknown-param": (["{typed}", "-p", "nope=1"], {}, ["nope", "no input parameter"]),
    "wrong-type-int": (["{typed}", "-p", "n=abc", "-p", "x=1", "-p", "flag=true", "-p", "xs=[]", "-p", "d={}"],
                       {}, ["-p n", "integer", "abc"]),
    "wrong-type-in-params-file": (["{typed}", "--params", "{tmp}/p.json"],
                                  {"p.json": '{"n": "abc", "x": 1, "flag": true, "xs": [], "d": {}}'},
                                  ["n", "integer", "abc"]),
    "missing-required": (["{typed}", "-p", "x=1", "-p", "flag=true", "-p", "xs=[]", "-p", "d={}"], {},
                         ["'n'", "required"]),
    "nonexistent-file": (["{tmp}/does-not-exist.yaml"], {}, ["does-not-exist.yaml", "cannot read"]),
    "invalid-yaml": (["{tmp}/bad.yaml"], {"bad.yaml": "pipelineInfo: {name: [unclosed\n  : :\n"},
                     ["not valid YAML"]),
    "dangling-componentRef": (["{tmp}/dangling.yaml"], {"dangling.yaml": DANGLING},
                              ["componentRef", "comp-missing"]),
    "unsupported-schemaVersion": (["{tmp}/future.yaml"],
                                  {"future.yaml": DANGLING.replace("2.1.0", "9.9.9").replace("comp-missing",
                                                                                              "comp-a")},
                                  ["schemaVersion", "9.9.9"]),
    "invalid-job-id": (["{example}", "--job-id", "Bad_ID"], {}, ["Bad_ID", "job id"]),
    "bad-label-key": (["{example}", "--label", "Team=ml"], {}, ["Team", "label"]),
    "label-without-value": (["{example}", "--label", "team"], {}, ["--label", "NAME=VALUE"]),
}


@pytest.mark.parametrize("case", list(INVALID_CASES))
def test_invalid_input_exits_2_with_a_message_and_runs_nothing(case: str, root: Path, envs_dir: Path,
                                                               compiled: dict[str, Path], tmp_path: Path) -> None:
    args, files, expected = INVALID_CASES[case]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    values = {"typed": str(compiled["typed"]), "tmp": str(tmp_path), "example": str(EXAMPLE)}
    for key, value in values.items():
        args = [a.replace(f"{{{key}}}", value) for a in args]
    result = sluice(root, envs_dir, "run", *args)

    assert result.returncode == 2, (result.returncode, result.stderr)
    message = squeezed(result.stderr)
    assert "error" in message.lower()
    for text in expected:
        assert squeezed(text) in message, f"{text!r} not in stderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    listed = sluice(root, envs_dir, "jobs", "list")
    assert listed.returncode == 0, listed.stderr
    for word in ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "typed-params", "hello-sluice",
                 "dangling"):
        assert word not in listed.stdout, listed.stdout
    assert not (root / "logs").exists() or not any((root / "logs").iterdir())


def test_error_message_keeps_a_long_path_on_one_line(root: Path, envs_dir: Path, tmp_path: Path) -> None:
    """stderr is not a terminal here: the message must still name the file intact (copyable, greppable)."""
    missing = tmp_path / ("a-rather-long-directory-name-" * 3) / "pipeline-that-does-not-exist.yaml"
    result = sluice(root, envs_dir, "run", missing)

    assert result.returncode == 2, result.stderr
    assert str(missing) in result.stderr, result.stderr


# ---------------------------------------------------------------- 6: Ctrl-C


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(alive(int(p.name)) for p in Path("/proc").iterdir()
               if p.name.isdigit() and _pgid_of(int(p.name)) == pgid)


def _pgid_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end are killed (by their own pid)."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_ctrl_c_exits_130_stores_cancelled_and_kills_the_task_processes(
        root: Path, envs_dir: Path, compiled: dict[str, Path], tmp_path: Path,
        started: list[subprocess.Popen[str]]) -> None:
    pid_file = tmp_path / "pids.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice", "run", str(compiled["sleepy"]), "--job-id", "ctrl-c-job",
         "-p", f"pid_file={pid_file}"],
        env=cli_env(root, envs_dir), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    started.append(proc)
    shell_pid = child_pid = pgid = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists():
            assert proc.poll() is None, f"sluice ended early ({proc.returncode}): {proc.communicate()[1]}"
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.1)
        shell_pid, child_pid = map(int, pid_file.read_text().split())
        pgid = os.getpgid(shell_pid)
        assert alive(child_pid)
        time.sleep(0.3)  # let the table render at least once with the task RUNNING

        os.kill(proc.pid, signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            pytest.fail(f"sluice did not end within 15 s of SIGINT; stderr:\n{stderr}")

        assert proc.returncode == 130, stderr
        assert "CANCELLED" in stderr
        grace = time.monotonic() + 3
        while (alive(child_pid) or alive(shell_pid)) and time.monotonic() < grace:
            time.sleep(0.1)
        assert not alive(shell_pid), "the task's shell survived Ctrl-C"
        assert not alive(child_pid), "the task's child process survived Ctrl-C"
        assert not _group_alive(pgid), "a process of the task's process group survived Ctrl-C"

        got = sluice(root, envs_dir, "jobs", "get", "ctrl-c-job", "--json")
        assert got.returncode == 0, got.stderr
        job = job_json(got)
        assert job["state"] == "PIPELINE_STATE_CANCELLED"
        assert task_detail(job, "sleepy")["state"] == "CANCELLED"
    finally:
        for pid in (child_pid, shell_pid):  # never leave our own sleeps behind
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- 7: jobs list / get, logs


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, envs_dir: Path,
             compiled: dict[str, Path]) -> tuple[Path, str]:
    """One finished run of the talky pipeline (generated job id), shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("finished") / "root"
    result = sluice(root, envs_dir, "run", compiled["talky"], "--json")
    assert result.returncode == 0, result.stderr
    job_id = job_json(result)["name"].rsplit("/", 1)[-1]
    assert job_id.startswith("talky-pipeline-")
    return root, job_id


def test_jobs_list_shows_the_run_with_its_full_id(finished: tuple[Path, str], envs_dir: Path) -> None:
    root, job_id = finished
    result = sluice(root, envs_dir, "jobs", "list")

    assert result.returncode == 0, result.stderr
    assert "SUCCEEDED" in result.stdout
    # the id is what `jobs get` / `logs` need: it must be printed whole, also when stdout is not a terminal
    assert job_id in result.stdout, result.stdout


def test_jobs_get_table_and_json(finished: tuple[Path, str], envs_dir: Path) -> None:
    root, job_id = finished
    table = sluice(root, envs_dir, "jobs", "get", job_id)
    assert table.returncode == 0, table.stderr
    assert "speak" in table.stdout and "shout" in table.stdout
    assert "SUCCEEDED" in table.stdout

    got = sluice(root, envs_dir, "jobs", "get", job_id, "--json")
    assert got.returncode == 0, got.stderr
    job = job_json(got)
    assert job["name"].endswith(f"/pipelineJobs/{job_id}")
    assert job["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert {"speak", "shout"} <= {t["taskName"] for t in job["jobDetail"]["taskDetails"]}

    by_name = sluice(root, envs_dir, "jobs", "get", job["name"], "--json")
    assert by_name.returncode == 0, by_name.stderr
    assert job_json(by_name)["name"] == job["name"]


def test_jobs_get_unknown_job_fails_with_a_message(finished: tuple[Path, str], envs_dir: Path) -> None:
    root, _ = finished
    result = sluice(root, envs_dir, "jobs", "get", "nope")

    assert result.returncode != 0
    assert "nope" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_logs_prints_every_task_or_only_the_one_asked_for(finished: tuple[Path, str], envs_dir: Path) -> None:
    root, job_id = finished
    every = sluice(root, envs_dir, "logs", job_id)
    assert every.returncode == 0, every.stderr
    assert "speak says alpha-from-speak" in every.stdout
    assert "shout says beta-from-shout" in every.stdout

    one = sluice(root, envs_dir, "logs", job_id, "shout")
    assert one.returncode == 0, one.stderr
    assert "shout says beta-from-shout" in one.stdout
    assert "alpha-from-speak" not in one.stdout

    other = sluice(root, envs_dir, "logs", job_id, "speak")
    assert other.returncode == 0, other.stderr
    assert "speak says alpha-from-speak" in other.stdout
    assert "beta-from-shout" not in other.stdout


def test_logs_unknown_task_or_job_fails(finished: tuple[Path, str], envs_dir: Path) -> None:
    root, job_id = finished
    task = sluice(root, envs_dir, "logs", job_id, "no-such-task")
    assert task.returncode != 0
    assert "no-such-task" in task.stderr
    assert task.stdout == ""

    job = sluice(root, envs_dir, "logs", "no-such-job")
    assert job.returncode != 0
    assert "no-such-job" in job.stderr


def test_caching_options_and_the_cache_commands(root: Path, envs_dir: Path) -> None:
    first = sluice(root, envs_dir, "run", str(EXAMPLE), "--json")
    second = sluice(root, envs_dir, "run", str(EXAMPLE), "--json")
    assert first.returncode == second.returncode == 0, second.stderr
    states = {t["taskName"]: t["state"] for t in job_json(second)["jobDetail"]["taskDetails"]}
    assert states["make-numbers"] == "SKIPPED" and states["summarise"] == "SKIPPED"
    off = sluice(root, envs_dir, "run", str(EXAMPLE), "--json", "--disable-caching")
    assert {t["state"] for t in job_json(off)["jobDetail"]["taskDetails"]} == {"SUCCEEDED"}
    listed = sluice(root, envs_dir, "cache", "list")
    assert listed.returncode == 0 and "make-numbers" in listed.stdout
    cleared = sluice(root, envs_dir, "cache", "clear")
    assert cleared.returncode == 0 and "removed 3 cache entries" in cleared.stderr
    bad = sluice(root, envs_dir, "run", str(EXAMPLE), "--cache-max-age", "soon")
    assert bad.returncode == 2 and "--cache-max-age" in bad.stderr and "not a duration" in bad.stderr


def test_db_upgrade_reports_the_revision(root: Path, envs_dir: Path) -> None:
    done = sluice(root, envs_dir, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "schema revision 00" in done.stderr


@dsl.component(base_image="python:3.11")
def guard(x: float, ok: bool) -> float:
    if not ok:
        raise ValueError("not ok")
    return x * 2


@dsl.component(base_image="python:3.11")
def source(marker: str) -> float:
    with open(marker, "a") as f:
        f.write("ran\n")
    return 21.0


@dsl.pipeline(name="rerun-me")
def rerun_me(marker: str, ok: bool = False) -> float:
    return guard(x=source(marker=marker).output, ok=ok).output


def test_rerun_from_the_command_line(root: Path, envs_dir: Path, tmp_path: Path) -> None:
    path, marker = tmp_path / "rerun.yaml", tmp_path / "marker"
    compiler.Compiler().compile(rerun_me, str(path))
    first = sluice(root, envs_dir, "run", path, "--job-id", "first-run", "--disable-caching", "-p", f"marker={marker}")
    assert first.returncode == 1
    again = sluice(root, envs_dir, "rerun", "first-run", "--task", "guard", "-p", "ok=true", "--json")
    assert again.returncode == 0, again.stderr
    job = job_json(again)
    assert job["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert {t["taskName"]: t["state"] for t in job["jobDetail"]["taskDetails"]}["source"] == "SKIPPED"
    assert marker.read_text() == "ran\n"  # source was reused, not run
    assert root_task(job)["execution"]["metadata"]["output:Output"] == 42.0
    bad = sluice(root, envs_dir, "rerun", "first-run", "--task", "nope")
    assert bad.returncode == 2 and "no task 'nope'" in bad.stderr
    bad_input = sluice(root, envs_dir, "rerun", "first-run", "--task", "guard", "-p", "zz=1")
    assert bad_input.returncode == 2 and "has no input 'zz'" in bad_input.stderr


def test_rerun_of_a_pipeline_that_failed_at_step_three(root: Path, envs_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "five.yaml"
    compiler.Compiler().compile(five_stages, str(path))
    assert sluice(root, envs_dir, "run", path, "--job-id", "five", "--disable-caching").returncode == 1
    again = sluice(root, envs_dir, "rerun", "five", "--task", "s3", "-p", "ok=true", "--json")
    assert again.returncode == 0, again.stderr
    states = {t["taskName"]: (t["state"], t["execution"]["metadata"].get("output:Output"))
              for t in job_json(again)["jobDetail"]["taskDetails"]}
    assert states["s1"] == ("SKIPPED", 1) and states["s2"] == ("SKIPPED", 2)
    assert [states[f"s{i}"] for i in (3, 4, 5)] == [("SUCCEEDED", 3), ("SUCCEEDED", 4), ("SUCCEEDED", 5)]


def test_control_flow_through_the_cli_and_jobs_get(root: Path, envs_dir: Path, tmp_path: Path) -> None:
    for pipeline, params, expect in [
        (branches, ["-p", "side=tails", "-p", "n=5"],
         {"on-tails": "SUCCEEDED", "on-heads": "NOT_TRIGGERED", "never-ever": "NOT_TRIGGERED", "big": "SUCCEEDED"}),
        (loops, ["-p", "xs=[3, 4, 5]", "-p", "n=2"], {"sum": "SUCCEEDED", "join": "SUCCEEDED"}),
    ]:
        path = tmp_path / f"{pipeline.name}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        ran = sluice(root, envs_dir, "run", path, "--json", *params)
        assert ran.returncode == 0, ran.stderr
        job = job_json(ran)
        got = sluice(root, envs_dir, "jobs", "get", job["name"], "--json")
        stored = job_json(got)
        assert stored["jobDetail"] == job["jobDetail"]  # the same view, read back from the store
        states = {t["taskName"]: t["state"] for t in stored["jobDetail"]["taskDetails"]}
        assert {k: states[k] for k in expect} == expect
    details = stored["jobDetail"]["taskDetails"]
    outputs = {t["taskName"]: t["execution"]["metadata"].get("output:Output") for t in details}
    assert outputs["sum"] == 50 and outputs["join"] == "10-1,20-2"
