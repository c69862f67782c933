# mypy: disable-error-code="untyped-decorator,no-any-return"
# (kfp's @dsl.component / @dsl.pipeline are untyped and a pipeline returns a task's `.output`, typed Any.)
"""Trivial lightweight components, kfp.local against Sluice, measured in the same run.

Two pipelines of one stdlib-only component (`noop(x) = x + 1`):

- `fanout-50`: 50 independent tasks;
- `chain-30`: 30 tasks, each consuming the previous task's output.

Each is run with `kfp.local` (SubprocessRunner(use_venv=False), in this process) and with Sluice, through the CLI
(`sluice run <yaml> --json` in a subprocess, a fresh SLUICE_ROOT per run) and in-process through the runtime API.
The task environments Sluice creates are cached in one SLUICE_ENVS_DIR, warmed by one untimed run first.

    /work/venv/bin/python bench/lightweight.py [--repeat 3] [--envs-dir DIR]

(No `from __future__ import annotations`: kfp reads the component's annotations as real types.)
"""


import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
import yaml
from kfp import compiler, dsl, local

from sluice.config import Settings
from sluice.domain.resource import render_job
from sluice.domain.spec import parse_spec
from sluice.domain.submission import Submission
from sluice.jobs import submit
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import utc_now

FANOUT_TASKS = 50
CHAIN_TASKS = 30
SUCCEEDED_JOB = "PIPELINE_STATE_SUCCEEDED"


@dsl.component(base_image="python:3.11")
def noop(x: int) -> int:
    return x + 1


@dsl.pipeline(name="bench-fanout")
def fanout() -> None:
    for i in range(FANOUT_TASKS):
        noop(x=i)


@dsl.pipeline(name="bench-chain")
def chain() -> int:
    task = noop(x=0)
    for _ in range(CHAIN_TASKS - 1):
        task = noop(x=task.output)
    return task.output


@dsl.pipeline(name="bench-warmup")
def warmup() -> int:
    return noop(x=0).output


@dataclass(frozen=True)
class Case:
    """One benchmark: a pipeline, its task count and the pipeline output it must produce (if any)."""

    name: str
    pipeline: Any
    tasks: int
    expected_output: int | None


CASES = (
    Case("fanout-50", fanout, FANOUT_TASKS, None),
    Case("chain-30", chain, CHAIN_TASKS, CHAIN_TASKS),
)


class BenchError(RuntimeError):
    """A run did not succeed: the benchmark stops."""


# ----------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def redirected(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors, so subprocesses too) to `log`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def fresh_dir(parent: Path, prefix: str) -> Path:
    """A new empty directory under `parent`."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def sluice_command() -> list[str]:
    """The `sluice` entry point next to this interpreter, else `python -m sluice`."""
    script = Path(sys.executable).parent / "sluice"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sluice"]


def sluice_env(root: Path, envs_dir: Path) -> dict[str, str]:
    """This environment without any SLUICE_* setting, plus a fresh root and the shared environments."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    env["SLUICE_ROOT"] = str(root)
    env["SLUICE_ENVS_DIR"] = str(envs_dir)
    return env


# ----------------------------------------------------------------------------------------------- runners


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds, CPU seconds of this process, CPU seconds of the child processes it reaped."""

    wall: float
    own_cpu: float
    child_cpu: float

    @property
    def total_cpu(self) -> float:
        return self.own_cpu + self.child_cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Stopwatch:
    """Wall time (perf_counter), this process's CPU time and reaped children's CPU time between start and stop."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._own = time.process_time()
        self._children = _children_cpu()

    def stop(self) -> Sample:
        return Sample(time.perf_counter() - self._wall, time.process_time() - self._own,
                      _children_cpu() - self._children)


def run_kfp_local(case: Case, work: Path) -> Sample:
    """One kfp.local run of `case`; raises BenchError unless it returned without error."""
    root = fresh_dir(work, f"kfp-local-{case.name}-")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    log = work / "kfp-local.log"
    watch = Stopwatch()
    try:
        with redirected(log):
            result = case.pipeline()
    except Exception as exc:
        tail = log.read_text(errors="replace")[-3000:]
        raise BenchError(f"kfp.local {case.name} failed: {exc!r}; log tail:\n{tail}") from exc
    sample = watch.stop()
    if case.expected_output is not None and result.output != case.expected_output:
        raise BenchError(f"kfp.local {case.name}: output {result.output!r}, expected {case.expected_output}")
    return sample


def check_sluice_job(case: Case, body: dict[str, Any], how: str) -> None:
    """Raise BenchError unless the PipelineJob JSON shows the job and all `case.tasks` tasks SUCCEEDED."""
    state = body.get("state")
    if state != SUCCEEDED_JOB:
        raise BenchError(f"sluice {how} {case.name}: job state {state}, error {body.get('error')}")
    details = body.get("jobDetail", {}).get("taskDetails", [])
    leaves = [t for t in details if "executorDetail" in t]
    succeeded = [t for t in leaves if t.get("state") == "SUCCEEDED"]
    if len(leaves) != case.tasks or len(succeeded) != case.tasks:
        raise BenchError(f"sluice {how} {case.name}: {len(succeeded)} of {len(leaves)} tasks SUCCEEDED, "
                         f"expected {case.tasks}")
    if case.expected_output is not None:
        root: dict[str, Any] = next((t for t in details if "parentTaskId" not in t), {})
        output = root.get("execution", {}).get("metadata", {}).get("output:Output")
        if output != case.expected_output:
            raise BenchError(f"sluice {how} {case.name}: pipeline output {output!r}, expected {case.expected_output}")


def run_sluice_cli(case: Case, spec: Path, work: Path, envs_dir: Path) -> Sample:
    """One `sluice run SPEC --json` subprocess on a fresh root; raises BenchError unless it succeeded."""
    root = fresh_dir(work, f"sluice-root-{case.name}-")
    watch = Stopwatch()
    proc = subprocess.run([*sluice_command(), "run", str(spec), "--json"], env=sluice_env(root, envs_dir),
                          capture_output=True, text=True, check=False)
    sample = watch.stop()
    if proc.returncode != 0:
        raise BenchError(f"sluice run {case.name} exited {proc.returncode}; stderr tail:\n{proc.stderr[-3000:]}")
    try:
        body = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"sluice run {case.name}: stdout is not JSON ({exc}): {proc.stdout[:500]!r}") from exc
    check_sluice_job(case, body, "run")
    return sample


def run_sluice_inprocess(case: Case, spec: dict[str, Any], work: Path, envs_dir: Path) -> Sample:
    """Submit and run `case` through the runtime API (opened beforehand on a fresh root)."""
    settings = Settings(root=fresh_dir(work, f"sluice-inproc-{case.name}-"), envs_dir=envs_dir, db_url="",
                        max_parallel=os.cpu_count() or 1)
    runtime = open_runtime(settings)
    try:
        watch = Stopwatch()
        sub = Submission(spec=parse_spec(spec), runtime_config={"parameterValues": {}})
        job = submit(runtime.store, settings, sub, utc_now())
        runtime.orchestrator.run_job(job.job_id)
        snapshot = runtime.store.snapshot(job.job_id)
        sample = watch.stop()
    finally:
        runtime.close()
    check_sluice_job(case, render_job(snapshot.job, snapshot.tasks), "in-process")
    return sample


# ----------------------------------------------------------------------------------------------- report


KFP_LOCAL, SLUICE_CLI, SLUICE_INPROC = "kfp.local", "sluice", "sluice in-proc"
RUNNERS = (KFP_LOCAL, SLUICE_CLI, SLUICE_INPROC)


@dataclass(frozen=True)
class Result:
    """The samples of one case, by runner."""

    case: Case
    samples: dict[str, list[Sample]]

    def median(self, runner: str, measure: Callable[[Sample], float]) -> float:
        return statistics.median(measure(s) for s in self.samples[runner])

    def wall(self, runner: str) -> float:
        return self.median(runner, lambda s: s.wall)


def markdown(rows: list[tuple[str, ...]]) -> str:
    """`rows` (the first is the header) as an aligned Markdown table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(rows[0]), separator, *(line(row) for row in rows[1:])])


def wall_table(results: list[Result]) -> str:
    """Median wall seconds, ratio kfp.local / sluice and tasks/s."""
    rows: list[tuple[str, ...]] = [
        ("benchmark", "tasks", "kfp.local s", "sluice s", "ratio", "kfp.local tasks/s", "sluice tasks/s",
         "sluice in-proc s", "in-proc ratio", "in-proc tasks/s"),
    ]
    for r in results:
        n, base, cli, inproc = r.case.tasks, r.wall(KFP_LOCAL), r.wall(SLUICE_CLI), r.wall(SLUICE_INPROC)
        rows.append((r.case.name, str(n), f"{base:.2f}", f"{cli:.2f}", f"{base / cli:.2f}x", f"{n / base:.1f}",
                     f"{n / cli:.1f}", f"{inproc:.2f}", f"{base / inproc:.2f}x", f"{n / inproc:.1f}"))
    return markdown(rows)


def cpu_table(results: list[Result]) -> str:
    """Median CPU seconds: everything (the runner and its tasks), and the in-process orchestrator alone."""
    rows: list[tuple[str, ...]] = [
        ("benchmark", "kfp.local cpu s", "sluice cpu s", "in-proc cpu s", "kfp.local orchestrator cpu s",
         "in-proc orchestrator cpu s"),
    ]
    for r in results:
        rows.append((r.case.name, *(f"{r.median(k, lambda s: s.total_cpu):.2f}" for k in RUNNERS),
                     f"{r.median(KFP_LOCAL, lambda s: s.own_cpu):.2f}",
                     f"{r.median(SLUICE_INPROC, lambda s: s.own_cpu):.2f}"))
    return markdown(rows)


def machine() -> str:
    """One line about where this ran."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    return (f"nproc={os.cpu_count()} cpu={cpu!r} python={platform.python_version()} kfp={kfp.__version__} "
            f"os={platform.system()} {platform.release()}")


def load() -> str:
    """The 1/5/15-minute load averages (other work on the machine skews the timings)."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def say(text: str) -> None:
    print(text, flush=True)


# ----------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per benchmark and runner (median)")
    parser.add_argument("--envs-dir", type=Path, default=None,
                        help="Sluice task environments to use and keep (default: a fresh temp dir)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
        work = Path(tmp)
        envs_dir: Path = args.envs_dir.expanduser().absolute() if args.envs_dir else work / "envs"
        envs_dir.mkdir(parents=True, exist_ok=True)
        say(f"machine: {machine()}; {load()}")
        say(f"sluice --max-parallel: default (CPU count = {os.cpu_count()}); repeats: {args.repeat}")
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            say("note: PYTHONDONTWRITEBYTECODE is set (inherited by every task): modules installed without "
                ".pyc files are compiled again on every import")

        warm = Case("warmup", warmup, 1, 1)
        specs: dict[str, Path] = {}
        for case in (*CASES, warm):
            path = work / f"{case.name}.yaml"
            compiler.Compiler().compile(case.pipeline, str(path))
            specs[case.name] = path
        loaded = {name: yaml.safe_load(path.read_text()) for name, path in specs.items()}

        first = run_sluice_cli(warm, specs["warmup"], work, envs_dir)
        say(f"warm-up (untimed): `sluice run` of a 1-task pipeline took {first.wall:.2f} s, "
            f"creating the cached task environment in {envs_dir}; timed runs reuse it "
            f"(a fresh SLUICE_ROOT per run)")
        run_kfp_local(warm, work)
        run_sluice_inprocess(warm, loaded["warmup"], work, envs_dir)

        results: list[Result] = []
        for case in CASES:
            runners: dict[str, Callable[[], Sample]] = {
                KFP_LOCAL: functools.partial(run_kfp_local, case, work),
                SLUICE_CLI: functools.partial(run_sluice_cli, case, specs[case.name], work, envs_dir),
                SLUICE_INPROC: functools.partial(run_sluice_inprocess, case, loaded[case.name], work, envs_dir),
            }
            result = Result(case, {label: [] for label in runners})
            for i in range(args.repeat):
                for label, runner in runners.items():  # interleaved, so drifting machine load hits all alike
                    sample = runner()
                    result.samples[label].append(sample)
                    say(f"  {case.name} #{i + 1} {label}: {sample.wall:.2f} s wall, {sample.total_cpu:.2f} s cpu")
            results.append(result)

        say("")
        say(f"median of {args.repeat} run(s); ratio = kfp.local s / sluice s (how many times faster Sluice is)")
        say("sluice = `sluice run <yaml> --json` subprocess (interpreter start, fresh SQLite root, run, JSON); "
            "in-proc = submit + run_job through the runtime API (runtime opened beforehand)")
        say("Sluice task environments are created once (warm-up) and cached; kfp.local runs in this process")
        say("")
        say(wall_table(results))
        say("")
        say("cpu = CPU seconds of the runner and all its task processes; orchestrator = this process alone")
        say(cpu_table(results))
        say("")
        say(f"end: {load()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
