"""The CLI against a `sluice server`: its REST API over plain HTTP (stdlib), and terminal views of the JSON."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sluice.domain.jsontypes import JsonObject
from sluice.domain.states import PipelineState
from sluice.domain.submission import JOB_ID
from sluice.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SluiceError
from sluice.progress import TASK_STYLE, elapsed, job_title

ENDED = frozenset(s.value for s in PipelineState if s.terminal)
_ERRORS: dict[str, type[SluiceError]] = {
    kind.code.name: kind for kind in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition)
}


class Remote:
    """PipelineService calls on one server and parent (`projects/{p}/locations/{l}`)."""

    def __init__(self, url: str, parent: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.parent = parent
        self.timeout = timeout

    def name(self, job: str) -> str:
        """A full resource name from a job id or a full name."""
        if job.startswith("projects/"):
            return job
        if not JOB_ID.match(job):
            raise InvalidArgument(f"{job!r} is neither a job id nor a pipeline job name", "name")
        return f"{self.parent}/pipelineJobs/{job}"

    def call(self, method: str, path: str, body: JsonObject | None = None, **query: Any) -> JsonObject:
        """One request; a google.rpc.Status answer becomes the matching SluiceError."""
        params = urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        request = urllib.request.Request(
            f"{self.url}/v1/{path}" + (f"?{params}" if params else ""), method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                data: JsonObject = json.loads(answer.read() or b"{}")
                return data
        except urllib.error.HTTPError as exc:
            raise _error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SluiceError(f"cannot reach the Sluice server at {self.url}: {reason}") from None

    def create(self, body: JsonObject, job_id: str | None) -> JsonObject:
        """CreatePipelineJob."""
        return self.call("POST", f"{self.parent}/pipelineJobs", body, pipelineJobId=job_id)

    def get(self, job: str) -> JsonObject:
        """GetPipelineJob."""
        return self.call("GET", self.name(job))

    def list(self, filter_: str | None, order_by: str | None, limit: int) -> list[JsonObject]:
        """ListPipelineJobs, following pages until `limit` jobs."""
        jobs: list[JsonObject] = []
        token = None
        while len(jobs) < limit:
            page = self.call("GET", f"{self.parent}/pipelineJobs", filter=filter_, orderBy=order_by,
                             pageSize=min(limit - len(jobs), 1000), pageToken=token)
            found = page.get("pipelineJobs")
            jobs += [j for j in found if isinstance(j, dict)] if isinstance(found, list) else []
            token = page.get("nextPageToken")
            if not token:
                break
        return jobs

    def cancel(self, job: str) -> None:
        """CancelPipelineJob."""
        self.call("POST", f"{self.name(job)}:cancel", {})

    def delete(self, job: str) -> JsonObject:
        """DeletePipelineJob; the operation (done: Sluice deletes within the request)."""
        return self.call("DELETE", self.name(job))


def _error(exc: urllib.error.HTTPError) -> SluiceError:
    try:
        status = json.loads(exc.read())["error"]
        kind = _ERRORS.get(str(status.get("status")), SluiceError)
        return kind(str(status.get("message", exc.reason)))
    except (ValueError, KeyError, TypeError):
        return SluiceError(f"the server answered {exc.code} {exc.reason}")


def _task_details(job: JsonObject) -> list[JsonObject]:
    detail = job.get("jobDetail")
    tasks = detail.get("taskDetails") if isinstance(detail, dict) else None
    return [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


def job_table(job: JsonObject, now: datetime | None = None) -> Table:
    """One row per task of a PipelineJob JSON (indented under its DAG), as `sluice run` shows a local job."""
    now = now or datetime.now(UTC)
    state = str(job.get("state", "")).removeprefix("PIPELINE_STATE_")
    title = job_title(str(job.get("name", "")).rsplit("/", 1)[-1], state)
    table = Table("task", "state", "elapsed", title=title, title_justify="left")
    tasks = _task_details(job)
    parents = {str(t.get("taskId")): str(t.get("parentTaskId", "")) for t in tasks}
    for task in tasks:
        depth, current = 0, str(task.get("parentTaskId", ""))
        if not current:
            continue  # the root DAG is the job itself
        while parents.get(current):
            depth, current = depth + 1, parents[current]
        task_state = str(task.get("state", ""))
        table.add_row("  " * depth + str(task.get("taskName", "")), Text(task_state, TASK_STYLE.get(task_state, "")),
                      elapsed(_time(task.get("startTime")), _time(task.get("endTime")), now))
    return table


def follow(remote: Remote, name: str, console: Console) -> JsonObject:
    """Show the job's tasks live until it ends; Ctrl-C asks the server to cancel it (and keeps following)."""
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    cancel_sent = False
    try:
        with Live(console=console, refresh_per_second=4) as live:
            while True:
                job = remote.get(name)
                live.update(job_table(job))
                if job.get("state") in ENDED:
                    return job
                if interrupted.is_set() and not cancel_sent:
                    cancel_sent = True
                    console.print("[yellow]cancelling: asking the server to stop the job…[/]")
                    with contextlib.suppress(FailedPrecondition):  # it ended meanwhile
                        remote.cancel(name)
                interrupted.wait(0.5)
    finally:
        signal.signal(signal.SIGINT, previous)


def report(job: JsonObject, console: Console) -> None:
    """The failed tasks' errors and the job's end, as `sluice run` prints them."""
    for task in _task_details(job):
        if task.get("state") == "FAILED" and task.get("parentTaskId"):
            error = task.get("error")
            message = error.get("message", "") if isinstance(error, dict) else ""
            console.print(f"[bold red]task {task.get('taskName')} failed:[/] {message}")
    state = str(job.get("state", "")).removeprefix("PIPELINE_STATE_")
    error = job.get("error")
    if isinstance(error, dict) and error.get("message"):
        console.print(f"[bold]{state}[/]: {error.get('message')}")
    else:
        console.print(f"[bold]{state}[/] {job.get('name')}")
