"""The `sluice` command line: run, server, jobs, logs, cache, db. Thin: the work happens below it."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from sluice.api.filters import parse_filter
from sluice.api.paging import parse_order
from sluice.config import Settings
from sluice.domain.caching import with_caching
from sluice.domain.ir import Interface
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.listing import JobQuery, SpecMode
from sluice.domain.records import LAST_LOG, JobRecord, Snapshot, TaskKind
from sluice.domain.rerun import RerunRequest
from sluice.domain.resource import render_job
from sluice.domain.spec import load_document, parse_spec
from sluice.domain.states import PipelineState, TaskState
from sluice.domain.submission import BILLING_LABEL, Submission
from sluice.domain.values import NO_PIPELINE_INPUT, declared, parse_pair, parse_text
from sluice.errors import FailedPrecondition, InvalidArgument, SluiceError
from sluice.jobs import parent_of, submit
from sluice.progress import log_tail, task_table
from sluice.remote import Remote, follow, job_table, report
from sluice.rerun_args import parse_rerun_args
from sluice.runtime.assembly import Runtime, open_runtime
from sluice.runtime.orchestrator import utc_now
from sluice.store.schema import SchemaTooNew, current_revision
from sluice.store.store import Store

app = typer.Typer(help="Sluice: run Kubeflow pipelines locally and serve them as Vertex AI PipelineJobs.",
                  no_args_is_help=True, add_completion=False)
jobs_app = typer.Typer(help="Inspect stored jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
cache_app = typer.Typer(help="Inspect and clear the execution cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
err = Console(stderr=True, soft_wrap=True)  # messages and paths are never wrapped mid-word

EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 1, 2, 130
SERVER_HELP = "URL of a `sluice server` (e.g. http://127.0.0.1:8080): act there instead of on the local store."
PARENT_HELP = "projects/{p}/locations/{l} on the server [default: from SLUICE_PROJECT and SLUICE_LOCATION]."


def _pairs(items: list[str], option: str) -> dict[str, str]:
    return dict(parse_pair(item, option) for item in items)


def _parameters(body: JsonObject | None, params_file: Path | None, pairs: dict[str, str],
                interface: Interface) -> JsonObject:
    """Parameter values: the body's runtimeConfig, then --params, then -p (each wins over the one before)."""
    given: JsonObject = {}
    config = (body or {}).get("runtimeConfig")
    values = config.get("parameterValues") if isinstance(config, dict) else None
    if isinstance(values, dict):
        given.update(values)
    if params_file is not None:
        try:
            loaded: Json = json.loads(params_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidArgument(f"cannot read a JSON object from {params_file}: {exc}", "--params") from None
        if not isinstance(loaded, dict):
            raise InvalidArgument("must hold a JSON object of parameter values", "--params")
        given.update(loaded)
    for name, text in pairs.items():
        param = declared(interface.parameters, name, NO_PIPELINE_INPUT, f"-p {name}")
        given[name] = parse_text(text, param.type, f"-p {name}")
    return given


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Compiled pipeline (YAML or JSON) or a PipelineJob JSON body.")],
    param: Annotated[list[str], typer.Option("-p", "--param", help="NAME=VALUE, parsed by the declared type.")] = [],  # noqa: B006
    params: Annotated[Path | None, typer.Option("--params", help="JSON file of parameter values.")] = None,
    output_dir: Annotated[str | None, typer.Option("--output-dir", help="Artifact root URI.")] = None,
    job_id: Annotated[str | None, typer.Option("--job-id")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name")] = None,
    label: Annotated[list[str], typer.Option("--label", help="KEY=VALUE")] = [],  # noqa: B006
    max_parallel: Annotated[int | None, typer.Option("--max-parallel", min=1)] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Start no task after a failure.")] = False,
    caching: Annotated[bool | None, typer.Option("--enable-caching/--disable-caching",
                                                 help="Override every task's cachingOptions.enableCache.")] = None,
    cache_max_age: Annotated[str | None, typer.Option("--cache-max-age",
                                                      help="Reuse no cached result older than this (7d).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the final PipelineJob JSON on stdout.")] = False,
    server: Annotated[str | None, typer.Option("--server", help=SERVER_HELP)] = None,
    parent: Annotated[str | None, typer.Option("--parent", help=PARENT_HELP)] = None,
) -> None:
    """Run a pipeline on this machine (or on a server with --server) and wait for it to end."""
    overrides: dict[str, Any] = {"max_parallel": max_parallel, "cache_max_age": cache_max_age}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        message = str(problem['msg']).removeprefix('Value error, ')
        err.print(f"[red]error:[/] --{str(problem['loc'][0]).replace('_', '-')}: {message}")
        raise typer.Exit(EXIT_INVALID) from None
    try:
        text = file.read_text()
    except OSError as exc:
        err.print(f"[red]error:[/] cannot read {file}: {escape(str(exc.strerror))}")
        raise typer.Exit(EXIT_INVALID) from None
    with _invalid_input():
        spec_doc, body = load_document(text)
        spec = parse_spec(spec_doc if caching is None else with_caching(spec_doc, caching))
        given = _parameters(body, params, _pairs(param, "-p"), spec.root.inputs)
        config: JsonObject = dict((body or {}).get("runtimeConfig") or {})  # type: ignore[arg-type]
        config["parameterValues"] = given
        if fail_fast:
            config["failurePolicy"] = "PIPELINE_FAILURE_POLICY_FAIL_FAST"
        sub = Submission(spec=spec, runtime_config=config, job_id=job_id, display_name=display_name,
                         labels=_pairs(label, "--label"), output_dir=output_dir)
        if server is not None:
            if max_parallel is not None or cache_max_age is not None:
                raise InvalidArgument("applies to local runs; the server has its own settings",
                                      "--max-parallel" if max_parallel is not None else "--cache-max-age")
            raise typer.Exit(_run_remote(_remote(server, parent, settings), sub, body, as_json))
        runtime = open_runtime(settings)
        job = submit(runtime.store, settings, sub, utc_now())
    _run_here(runtime, job, as_json)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def rerun(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="The job to rerun (id or full name).")],
    job_id: Annotated[str | None, typer.Option("--job-id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the final PipelineJob JSON on stdout.")] = False,
) -> None:
    """Rerun a job here: reuse what SUCCEEDED, run the rest again.

    Then: --task NAME [-p INPUT=VALUE]... runs NAME again (with those inputs); --skip-task NAME reuses NAME
    (and what is downstream of it) even if its inputs changed; -p PARAM=VALUE before any --task changes a
    pipeline parameter.
    """
    settings = Settings()
    runtime = open_runtime(settings)
    with _invalid_input():
        original = runtime.store.snapshot(_find(runtime.store, job).job_id)
        spec = parse_spec(original.job.spec)
        args = parse_rerun_args(ctx.args, original, spec)
        config = {**original.job.runtime_config, "parameterValues": {**original.job.parameters, **args.parameters}}
        labels = {k: v for k, v in original.job.labels.items() if k != BILLING_LABEL}
        sub = Submission(spec=spec, runtime_config=config, job_id=job_id, display_name=original.job.display_name,
                         labels=labels, output_dir=original.job.output_dir,
                         rerun=RerunRequest(original.job.numeric_id, tuple(args.configs)))
        new = submit(runtime.store, settings, sub, utc_now())
    _run_here(runtime, new, as_json)


def _run_here(runtime: Runtime, job: JobRecord, as_json: bool) -> NoReturn:
    """Run a submitted job in this process with the live table, report it, exit with its code."""
    final = _watch(runtime.store, job, lambda: runtime.orchestrator.run_job(job.job_id))
    runtime.close()
    if as_json:
        sys.stdout.write(json.dumps(render_job(final.job, final.tasks), indent=2) + "\n")
    _report(final)
    raise typer.Exit(_exit_code(final.job.state))


def _watch(store: Store, job: JobRecord, drive: Callable[[], object]) -> Snapshot:
    """Drive the job in a thread while the table refreshes; Ctrl-C asks the store to cancel it."""
    finished, interrupted = threading.Event(), threading.Event()

    def work() -> None:
        try:
            drive()
        finally:
            finished.set()

    # SIGINT only sets a flag: a KeyboardInterrupt raised at an arbitrary point (inside a store read, a
    # render, or Thread.join, which then marks the thread stopped) would leave the job half-cancelled.
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    threading.Thread(target=work, name="sluice-orchestrator", daemon=True).start()
    cancel_sent = False
    try:
        with Live(console=err, refresh_per_second=4, transient=False) as live:
            pause = 0.25
            while not finished.wait(timeout=pause):
                if interrupted.is_set() and not cancel_sent:
                    cancel_sent = True
                    err.print("[yellow]cancelling: terminating running tasks…[/]")
                    with contextlib.suppress(FailedPrecondition):  # it ended meanwhile
                        store.request_cancel(job.job_id, utc_now())
                started = time.perf_counter()
                live.update(task_table(store.snapshot(job.job_id), utc_now()))
                # A big job's table is costly to read: refresh less often rather than slow the job down.
                pause = max(0.25, 4 * (time.perf_counter() - started))
            final = store.snapshot(job.job_id)
            live.update(task_table(final, utc_now()))
    finally:
        signal.signal(signal.SIGINT, previous)
    err.print()
    return final


def _report(final: Snapshot) -> None:
    job = final.job
    for task in final.tasks:
        if task.kind is not TaskKind.DAG and task.state is TaskState.FAILED:
            err.print(f"[bold red]task {task.name} failed:[/] {escape(str((task.error or {}).get('message', '')))}")
            tail = log_tail(str(task.detail.get(LAST_LOG, "")))
            if tail:
                err.print(f"[dim]--- last log lines of {task.name} ---[/]")
                err.print(tail, markup=False, highlight=False)
    if job.error:
        err.print(f"[bold]{job.state.name}[/]: {escape(str(job.error.get('message', '')))}")
    else:
        err.print(f"[bold]{job.state.name}[/] {job.name}")


def _exit_code(state: PipelineState) -> int:
    return {PipelineState.SUCCEEDED: 0, PipelineState.CANCELLED: EXIT_CANCELLED}.get(state, EXIT_FAILED)


@contextlib.contextmanager
def _invalid_input() -> Iterator[None]:
    """A SluiceError raised in the block: its message on stderr, and exit code 2."""
    try:
        yield
    except SluiceError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None


def _open_store() -> Store:
    return Store(Settings().db_url)


def _find(store: Store, name: str) -> JobRecord:
    return store.get_job(name.rsplit("/", 1)[-1])


def _remote(server: str, parent: str | None, settings: Settings | None = None) -> Remote:
    return Remote(server, parent or parent_of(settings or Settings()))


def _run_remote(remote: Remote, sub: Submission, body: JsonObject | None, as_json: bool) -> int:
    """Submit to the server, follow the job live, report as a local run does; the exit code."""
    request: JsonObject = {k: v for k, v in (body or {}).items() if k not in ("pipelineSpec", "pipeline_spec")}
    config: JsonObject = dict(sub.runtime_config)
    if sub.output_dir:
        config["gcsOutputDirectory"] = sub.output_dir
    request.update(pipelineSpec=sub.spec.document, runtimeConfig=config)
    if sub.display_name is not None:
        request["displayName"] = sub.display_name
    given = request.get("labels")
    request["labels"] = {**(given if isinstance(given, dict) else {}), **sub.labels}
    created = remote.create(request, sub.job_id)
    final = follow(remote, str(created["name"]), err)
    if as_json:
        sys.stdout.write(json.dumps(final, indent=2) + "\n")
    report(final, err)
    return _exit_code(PipelineState(final["state"]))


def _short_time(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat(timespec="seconds") \
        if isinstance(value, str) else ""


def _job_rows(limit: int, filter_: str | None, order_by: str | None, server: str | None,
              parent: str | None) -> list[tuple[str, str, str, str, str]]:
    if server is not None:
        return [(str(j["name"]).rsplit("/", 1)[-1], str(j.get("displayName", "")),
                 str(j.get("state", "")).removeprefix("PIPELINE_STATE_"), _short_time(j.get("createTime")),
                 _short_time(j.get("endTime"))) for j in _remote(server, parent).list(filter_, order_by, limit)]
    query = JobQuery(parent, parse_order(order_by), parse_filter(filter_), limit=limit, spec=SpecMode.NONE)
    return [(j.job_id, j.display_name, j.state.name, _short_time(j.create_time), _short_time(j.end_time))
            for j in _open_store().list_page(query).jobs]


@jobs_app.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option(min=1)] = 50,
    filter_: Annotated[str | None, typer.Option("--filter", help='AIP-160, e.g. labels.env="dev"')] = None,
    order_by: Annotated[str | None, typer.Option("--order-by", help="e.g. end_time desc")] = None,
    server: Annotated[str | None, typer.Option("--server", help=SERVER_HELP)] = None,
    parent: Annotated[str | None, typer.Option("--parent", help=PARENT_HELP)] = None,
) -> None:
    """The newest jobs (or those a filter picks, in the order asked)."""
    with _invalid_input():
        rows = _job_rows(limit, filter_, order_by, server, parent)
    table = Table()
    table.add_column("job", no_wrap=True)  # the id `jobs get` and `logs` take: never cut
    for header in ("display name", "state", "created", "ended"):
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 250).print(table)


@jobs_app.command("get")
def jobs_get(
    name: Annotated[str, typer.Argument(help="Job id or full resource name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    server: Annotated[str | None, typer.Option("--server", help=SERVER_HELP)] = None,
) -> None:
    """One job: its tasks, or the PipelineJob JSON."""
    if server is not None:
        with _invalid_input():
            job = _remote(server, None).get(name)
        if as_json:
            sys.stdout.write(json.dumps(job, indent=2) + "\n")
        else:
            Console().print(job_table(job))
        return
    store = _open_store()
    with _invalid_input():
        snapshot = store.snapshot(_find(store, name).job_id)
    if as_json:
        sys.stdout.write(json.dumps(render_job(snapshot.job, snapshot.tasks), indent=2) + "\n")
    else:
        Console().print(task_table(snapshot, utc_now()))


@jobs_app.command("cancel")
def jobs_cancel(
    name: Annotated[str, typer.Argument(help="Job id or full resource name.")],
    server: Annotated[str | None, typer.Option("--server", help=SERVER_HELP)] = None,
) -> None:
    """Ask a job to stop: it goes CANCELLING, then CANCELLED (an ended job cannot be cancelled)."""
    with _invalid_input():
        if server is not None:
            _remote(server, None).cancel(name)
        else:
            store = _open_store()
            store.request_cancel(_find(store, name).job_id, utc_now())
    err.print(f"cancel requested: {name}")


@jobs_app.command("delete")
def jobs_delete(
    name: Annotated[str, typer.Argument(help="Job id or full resource name.")],
    server: Annotated[str | None, typer.Option("--server", help=SERVER_HELP)] = None,
) -> None:
    """Delete an ended job and its tasks (its artifacts and logs stay where they are)."""
    with _invalid_input():
        if server is not None:
            _remote(server, None).delete(name)
        else:
            store = _open_store()
            store.delete_jobs([_find(store, name).job_id])
    err.print(f"deleted: {name}")


@cache_app.command("list")
def cache_list(pipeline: Annotated[str | None, typer.Option(help="Only this pipeline's entries.")] = None) -> None:
    """Cached executions, newest first: a later task with the same key reuses their outputs."""
    table = Table("pipeline", "task", "from job", "cached at", "key")
    for entry in _open_store().cache_entries(pipeline):
        table.add_row(entry.pipeline_name, entry.task_name, entry.job_name.rsplit("/", 1)[-1],
                      entry.create_time.isoformat(timespec="seconds"), entry.key[:12])
    Console(width=None if sys.stdout.isatty() else 250).print(table)


@cache_app.command("clear")
def cache_clear(pipeline: Annotated[str | None, typer.Option(help="Only this pipeline's entries.")] = None) -> None:
    """Forget cached executions (the artifacts stay where they are)."""
    removed = _open_store().cache_clear(pipeline)
    err.print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}")


@app.command()
def logs(
    job: Annotated[str, typer.Argument(help="Job id or full resource name.")],
    task: Annotated[str | None, typer.Argument(help="Task name or id; all tasks when left out.")] = None,
) -> None:
    """Print the logs of a job's task attempts (kept after the tasks end)."""
    settings = Settings()
    store = Store(settings.db_url)
    with _invalid_input():
        snapshot = store.snapshot(_find(store, job).job_id)
    chosen = [t for t in snapshot.tasks if t.kind is not TaskKind.DAG
              and (task is None or task in (t.name, t.key, str(t.task_id)))]
    if task is not None and not chosen:
        err.print(f"[red]error:[/] job {snapshot.job.job_id} has no task {escape(repr(task))}")
        raise typer.Exit(EXIT_INVALID)
    for t in chosen:
        for path in sorted((settings.root / "logs" / snapshot.job.job_id / str(t.task_id)).glob("attempt-*.log")):
            if task is None:
                sys.stdout.write(f"==> {t.name} ({path.stem}) <==\n")
            sys.stdout.write(path.read_text(errors="replace"))


@app.command()
def server(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8080].", min=0, max=65535)] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL [default: {root}/sluice.db].")] = None,
    root: Annotated[Path | None, typer.Option(help="Logs, artifacts, task dirs [default: ~/.sluice].")] = None,
    run_jobs: Annotated[bool, typer.Option("--run-jobs/--api-only",
                                           help="Also run the jobs in this process, or serve the API only.")] = True,
) -> None:
    """Serve the Vertex AI pipelineJobs API (and run the jobs) until SIGTERM or Ctrl-C."""
    given: dict[str, Any] = {"host": host, "port": port, "db_url": db, "root": root}
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None
    from sluice.api.server import serve  # noqa: PLC0415 - FastAPI and uvicorn load only for this command

    try:
        serve(settings, run_jobs)
    except SchemaTooNew as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None


@db_app.command("upgrade")
def db_upgrade(db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL [default: SLUICE_DB_URL].")] = None,
               ) -> None:
    """Migrate the database to this Sluice's schema (servers also do it when they start)."""
    settings = Settings() if db is None else Settings(db_url=db)
    try:
        store = Store(settings.db_url)
    except SchemaTooNew as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None
    revision = current_revision(store.engine)
    store.close()
    err.print(f"the database is at schema revision {revision}")


def main() -> None:
    """Entry point of the `sluice` console script."""
    app()
