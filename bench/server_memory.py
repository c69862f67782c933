"""Server memory with a large job in flight: RSS of a real `sluice server` while a ParallelFor runs.

    python bench/server_memory.py [--items 10000] [--parallelism 64]

Starts `sluice server` (SQLite, fresh root) and submits one job through the REST API: a ParallelFor of
`--items` trivial container tasks (`true`). It samples the server's RSS (/proc/PID/status VmRSS) every
0.2 s until the job ends, and prints the RSS before the job, the peak, and the growth per task. Target
(issue 7): RSS < 300 MB with a 10,000-task job in flight. Then it GETs the finished job three times
(`GetPipelineJob`, the whole resource with every task row) and prints the median time and the size.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kfp import compiler
from loop_pipeline import loop_pipeline

PARENT = "projects/bench/locations/us-central1"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def call(url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--parallelism", type=int, default=64)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sluice-memory-"))
    spec_path = work / "loop.yaml"
    compiler.Compiler().compile(loop_pipeline(args.parallelism, "memory-loop"), str(spec_path))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sluice = Path(sys.executable).parent / "sluice"
    log = (work / "server.log").open("wb")
    server = subprocess.Popen([str(sluice), "server", "--port", str(port), "--root", str(work / "root")],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SLUICE_MAX_PARALLEL": "8"})
    url = f"http://127.0.0.1:{port}/v1/{PARENT}/pipelineJobs"
    try:
        for _ in range(150):
            try:
                call(f"{url}?pageSize=1")
                break
            except OSError:
                time.sleep(0.2)
        before = rss_mb(server.pid)
        body = {"pipelineSpec": yaml.safe_load(spec_path.read_text()),
                "runtimeConfig": {"gcsOutputDirectory": str(work / "artifacts"),
                                  "parameterValues": {"items": list(range(args.items))}}}
        job = call(f"{url}?pipelineJobId=memory-job", body)
        peak, start = before, time.perf_counter()
        state = job["state"]
        while state not in ("PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"):
            time.sleep(0.2)
            peak = max(peak, rss_mb(server.pid))
            state = call(f"{url}?filter=pipeline_job_user_id%3D%22memory-job%22")["pipelineJobs"][0]["state"]
        wall = time.perf_counter() - start
        gets = []
        for _ in range(3):
            began = time.perf_counter()
            request = urllib.request.Request(f"{url}/memory-job")
            with urllib.request.urlopen(request, timeout=120) as answer:
                size = len(answer.read())
            gets.append(time.perf_counter() - began)
        get_peak = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    if state != "PIPELINE_STATE_SUCCEEDED":
        raise SystemExit(f"BENCHMARK FAILED: the job ended {state}")
    print(f"items={args.items} parallelism={args.parallelism} wall={wall:.1f}s "
          f"({1000 * wall / args.items:.2f} ms/task)")
    print(f"server RSS: {before:.0f} MB before the job, peak {peak:.0f} MB in flight, "
          f"growth {1024 * (peak - before) / args.items:.1f} KB per task (target: peak < 300 MB)")
    print(f"GET of the finished job ({args.items} iterations, {2 * args.items + 2} task rows, {size / 1e6:.1f} MB "
          f"of JSON): median {1000 * sorted(gets)[1]:.0f} ms of 3; server RSS after the GETs {get_peak:.0f} MB")


if __name__ == "__main__":
    main()
