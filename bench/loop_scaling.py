"""ParallelFor scaling: planner time and Sluice's overhead per iteration at growing loop sizes.

    python bench/loop_scaling.py [--sizes 100 1000 5000] [--parallelism 64] [--max-parallel 8]

Each iteration runs a trivial container task (`true`). Reported per size: wall time, the time spent
inside the planner (`plan` + `settle`), the time spent in the store, and per-iteration figures. Linear
scaling means the per-iteration figures stay flat as the size grows. "sluice cpu" is the CPU time of
the benchmark's own process (orchestrator, planner, store, launching; every thread), which excludes the
task processes: Sluice's own overhead per iteration. Store time is wall time inside Store calls, so it
also counts waiting for the GIL while launch threads run. Peak RSS is the benchmark process's
high-water mark so far (it only grows across sizes: run one size per invocation for a clean figure).
"""


import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler
from loop_pipeline import loop_pipeline

from sluice.config import Settings
from sluice.domain.spec import parse_spec
from sluice.domain.states import PipelineState
from sluice.domain.submission import Submission
from sluice.jobs import submit
from sluice.runtime import orchestrator as orchestrator_module
from sluice.runtime.assembly import open_runtime
from sluice.runtime.orchestrator import utc_now


class Timer:
    """Accumulates the time spent in wrapped functions."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def run(size: int, spec: Any, envs: Path, max_parallel: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    settings = Settings(root=root, envs_dir=envs, max_parallel=max_parallel)
    rt = open_runtime(settings)
    planner, store = Timer(), Timer()
    orchestrator_module.plan = planner.wrap(orchestrator_module.plan)  # type: ignore[assignment]
    orchestrator_module.settle = planner.wrap(orchestrator_module.settle)  # type: ignore[assignment]
    for name in ("apply", "snapshot", "job_flags"):
        setattr(rt.store, name, store.wrap(getattr(rt.store, name)))
    config = {"parameterValues": {"items": list(range(size))}}
    job = submit(rt.store, settings, Submission(spec=spec, runtime_config=config), utc_now())
    start, cpu_start = time.perf_counter(), _cpu()
    final = rt.orchestrator.run_job(job.job_id)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu_start
    rt.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if final.state is not PipelineState.SUCCEEDED:
        raise SystemExit(f"BENCHMARK FAILED: {size} items ended {final.state.name}: {final.error}")
    return {"wall": wall, "cpu": cpu, "planner": planner.seconds, "store": store.seconds, "rss": rss_mb}


def _cpu() -> float:
    """CPU seconds of this process alone (all its threads): Sluice's own work, not the task processes'."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--parallelism", type=int, default=64)
    parser.add_argument("--max-parallel", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    path = work / "loop.yaml"
    compiler.Compiler().compile(loop_pipeline(args.parallelism, "loop-scaling"), str(path))
    spec = parse_spec(yaml.safe_load(path.read_text()))
    envs = work / "envs"
    run(2, spec, envs, args.max_parallel)  # creates the task environment, untimed
    original_plan, original_settle = orchestrator_module.plan, orchestrator_module.settle
    print(f"{'items':>7} {'wall s':>8} {'planner s':>10} {'store s':>8} {'ms/item wall':>13} "
          f"{'ms/item planner':>16} {'ms/item store':>14} {'ms/item sluice cpu':>19} {'peak RSS MB':>12}")
    for size in args.sizes:
        orchestrator_module.plan, orchestrator_module.settle = original_plan, original_settle
        r = run(size, spec, envs, args.max_parallel)
        print(f"{size:>7} {r['wall']:>8.2f} {r['planner']:>10.2f} {r['store']:>8.2f} {1000 * r['wall'] / size:>13.2f} "
              f"{1000 * r['planner'] / size:>16.2f} {1000 * r['store'] / size:>14.2f} "
              f"{1000 * r['cpu'] / size:>19.2f} {r['rss']:>12.0f}")


if __name__ == "__main__":
    main()
