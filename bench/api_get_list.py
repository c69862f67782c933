"""GetPipelineJob and one filtered ListPipelineJobs page over 10,000 and 100,000 stored jobs (SQLite), over HTTP.

    /work/venv/bin/python bench/api_get_list.py                      # sizes 10000 and 100000
    /work/venv/bin/python bench/api_get_list.py --sizes 1000 --gets 200 --lists 20   # quick check

For each size: a fresh SQLite file is filled in bulk through the store's own row mapping (all jobs under one
parent, each with the shipped example's pipelineSpec, a billing label, `env` = dev/prod/test in turn and
`team=ml` on 1 in 100; 500 of them get a root DAG and two finished container tasks). Then a real
`sluice server --api-only` serves it and one keep-alive HTTP connection times:

- anchor: GET of a job that does not exist (404): the server's floor for one request;
- get: GetPipelineJob of a random job with tasks (the full jobDetail);
- list: `filter=labels.env="dev"`, pageSize=100, the default order (create_time desc), full jobs;
- list deep: the same, 30 pages in (fewer for small sizes; keyset: it should cost what page 1 costs);
- list rare: `filter=labels.team="ml"` (1 % of the jobs match), pageSize=100;
- list masked: the SDK's simple-view readMask, pageSize=100.

Targets (issue 4): get p50 < 5 ms; the filtered page < 50 ms at 100,000 jobs and flat in the table size.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sluice.domain.actions import NewTask
from sluice.domain.records import JobRecord, TaskKind, Values
from sluice.domain.spec import load_document
from sluice.domain.states import PipelineState, TaskState
from sluice.store.store import Store, _job_row  # the store's own row mapping, for a bulk insert
from sluice.store.tables import labels, pipeline_jobs

ROOT = Path(__file__).parents[1]
PARENT = "projects/bench/locations/us-central1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SIMPLE_VIEW = ("name,state,displayName,pipelineSpec.pipelineInfo,createTime,startTime,endTime,updateTime,labels,"
               "templateUri,templateMetadata.version,jobDetail.pipelineRunContext,jobDetail.pipelineContext")


def _job(i: int, spec: dict[str, Any]) -> JobRecord:
    created = T0 + timedelta(seconds=i)
    running = i % 10 == 0
    job_labels = {"vertex-ai-pipelines-run-billing-id": str(i + 1), "env": ("dev", "prod", "test")[i % 3]}
    if i % 100 == 0:
        job_labels["team"] = "ml"
    return JobRecord(
        job_id=f"job-{i:07d}", numeric_id=i + 1, name=f"{PARENT}/pipelineJobs/job-{i:07d}", uuid=f"u-{i}",
        display_name=f"hello run {i}", pipeline_name="hello-sluice",
        state=PipelineState.RUNNING if running else PipelineState.SUCCEEDED, create_time=created,
        update_time=created + timedelta(seconds=30), start_time=created + timedelta(seconds=1),
        end_time=None if running else created + timedelta(seconds=30), spec=spec,
        runtime_config={"gcsOutputDirectory": "/tmp/bench", "parameterValues": {"name": "bench"}},
        parameters={"name": "bench"}, output_dir="/tmp/bench", labels=job_labels)


def fill(store: Store, size: int, spec: dict[str, Any], with_tasks: list[int]) -> float:
    """Insert `size` jobs in bulk; the seconds it took."""
    started = time.perf_counter()
    batch = 5000
    for first in range(0, size, batch):
        jobs = [_job(i, spec) for i in range(first, min(first + batch, size))]
        with store.engine.begin() as conn:
            conn.execute(pipeline_jobs.insert(), [_job_row(j) for j in jobs])
            conn.execute(labels.insert(), [{"job_id": j.job_id, "key": k, "value": v}
                                           for j in jobs for k, v in j.labels.items()])
    for i in with_tasks:  # through the store's normal write path: a root DAG and two finished tasks
        job_id, base = f"job-{i:07d}", (i + 1) * 10
        store.apply(job_id, [
            NewTask(base, None, "", "hello-sluice", "root", TaskKind.DAG, TaskState.RUNNING),
            NewTask(base + 1, base, "say-hello", "say-hello", "comp-say-hello", TaskKind.CONTAINER,
                    TaskState.SUCCEEDED, inputs=Values({"name": "bench"}), outputs=Values({"Output": "Hello"}),
                    detail={"image": "python:3.11"}),
            NewTask(base + 2, base, "shout", "shout", "comp-shout", TaskKind.CONTAINER, TaskState.SUCCEEDED,
                    inputs=Values({"text": "Hello"}), outputs=Values({"Output": "HELLO"})),
        ], T0)
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(db_url: str, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    sluice = Path(sys.executable).parent / "sluice"
    process = subprocess.Popen([str(sluice), "server", "--api-only", "--port", str(port), "--db", db_url,
                                "--root", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("BENCHMARK FAILED: the server did not start")


class Http:
    """One keep-alive connection, as a client library holds it."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, **query: Any) -> tuple[int, dict[str, Any], float]:
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        started = time.perf_counter()
        self.conn.request("GET", url)
        answer = self.conn.getresponse()
        body = json.loads(answer.read())
        return answer.status, body, (time.perf_counter() - started) * 1000


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed(http: Http, count: int, path: str, expect: int, check: Any = None, **query: Any) -> tuple[float, float]:
    samples = []
    for _ in range(count):
        status, body, ms = http.get(path, **query)
        if status != expect or (check is not None and not check(body)):
            raise SystemExit(f"BENCHMARK FAILED: GET {path} {query} answered {status}: {str(body)[:300]}")
        samples.append(ms)
    return _percentiles(samples)


def _page(count: int) -> Any:
    return lambda body: len(body.get("pipelineJobs", [])) == count


def measure(size: int, gets: int, lists: int, spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sluice-bench-api-") as tmp:
        root = Path(tmp)
        db_url = f"sqlite:///{root / 'bench.db'}"
        store = Store(db_url)
        sample = random.Random(size).sample(range(size), min(500, size))
        filled = fill(store, size, spec, sample)
        store.close()
        process, port = start(db_url, root)
        try:
            http = Http(port)
            jobs = f"/v1/{PARENT}/pipelineJobs"
            _timed(http, 20, f"{jobs}/job-{sample[0]:07d}", 200)  # warm up both paths
            _timed(http, 5, jobs, 200, filter='labels.env="dev"', pageSize=100)
            result: dict[str, Any] = {"size": size, "fill_s": filled}
            result["anchor"] = _timed(http, gets, f"{jobs}/missing-job", 404)
            picks = iter(random.Random(1).choices(sample, k=gets))
            samples = []
            for _ in range(gets):
                status, body, ms = http.get(f"{jobs}/job-{next(picks):07d}")
                if status != 200 or len(body["jobDetail"]["taskDetails"]) != 3:
                    raise SystemExit(f"BENCHMARK FAILED: GetPipelineJob answered {status}: {str(body)[:300]}")
                samples.append(ms)
            result["get"] = _percentiles(samples)
            dev = 'labels.env="dev"'
            result["list"] = _timed(http, lists, jobs, 200, _page(100), filter=dev, pageSize=100)
            token = ""
            for _ in range(max(1, min(30, size // 300 - 1))):
                _, body, _ = http.get(jobs, filter=dev, pageSize=100, pageToken=token)
                token = body["nextPageToken"]
            result["deep"] = _timed(http, lists, jobs, 200, _page(100), filter=dev, pageSize=100, pageToken=token)
            rare = min(100, (size + 99) // 100)
            result["rare"] = _timed(http, lists, jobs, 200, _page(rare), filter='labels.team="ml"', pageSize=100)
            result["masked"] = _timed(http, lists, jobs, 200, _page(100), filter=dev, pageSize=100,
                                      readMask=SIMPLE_VIEW)
            return result
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--lists", type=int, default=200)
    args = parser.parse_args()
    spec, _ = load_document((ROOT / "examples" / "hello_pipeline.yaml").read_text())
    print(f"machine: nproc={os.cpu_count()} python={sys.version.split()[0]} load={os.getloadavg()[0]:.2f}; "
          f"spec {len(json.dumps(spec))} bytes of JSON per job")
    rows = [measure(size, args.gets, args.lists, spec) for size in args.sizes]
    header = (f"{'jobs':>8} {'fill':>7} {'anchor p50':>10} {'get p50':>8} {'get p99':>8} {'get/anchor':>10} "
              f"{'list p50':>9} {'list p99':>9} {'deep p50':>9} {'rare p50':>9} {'masked p50':>10}")
    print(header)
    for r in rows:
        print(f"{r['size']:>8} {r['fill_s']:>6.1f}s {r['anchor'][0]:>8.2f}ms {r['get'][0]:>6.2f}ms "
              f"{r['get'][1]:>6.2f}ms {r['get'][0] / r['anchor'][0]:>9.1f}x {r['list'][0]:>7.2f}ms "
              f"{r['list'][1]:>7.2f}ms {r['deep'][0]:>7.2f}ms {r['rare'][0]:>7.2f}ms {r['masked'][0]:>8.2f}ms")
    largest = rows[-1]
    verdict = "met" if largest["get"][0] < 5 and largest["list"][0] < 50 else "MISSED"
    print(f"targets (get p50 < 5 ms, filtered page < 50 ms at {largest['size']} jobs): {verdict}; "
          f"load={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
