"""Control flow, compiled by kfp and run for real: conditions, loops, Collected, exit handlers, nesting, OneOf."""

from typing import Any

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from sluice.domain.caching import with_caching
from sluice.domain.records import Snapshot, TaskKind
from sluice.domain.states import PipelineState, TaskState
from tests.conftest import Compile, RunSpec, task

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def echo(text: str) -> str:
    return text


@dsl.component(base_image=IMAGE)
def square(x: int) -> int:
    if type(x) is not int:
        raise TypeError(f"expected an int, got {x!r}")
    return x * x


@dsl.component(base_image=IMAGE)
def total(xs: list[int]) -> int:
    if not all(type(x) is int for x in xs):
        raise TypeError(f"expected ints, got {xs!r}")
    return sum(xs)


@dsl.component(base_image=IMAGE)
def numbers(n: int) -> list[int]:
    return list(range(n))


def states(snapshot: Snapshot) -> dict[str, TaskState]:
    return {t.name: t.state for t in snapshot.tasks}


@dsl.pipeline(name="branches")
def branches(side: str = "heads", n: int = 5) -> str:
    flip = echo(text=side).set_display_name("flip")
    with dsl.If(flip.output == "heads"):
        a = echo(text="took heads").set_display_name("on-heads")
    with dsl.Elif(flip.output == "tails"):
        b = echo(text="took tails").set_display_name("on-tails")
    with dsl.Else():
        c = echo(text="took edge").set_display_name("on-edge")
    chosen = dsl.OneOf(a.output, b.output, c.output)
    report = echo(text=chosen).set_display_name("report")
    with dsl.If(n > 3):
        big = echo(text="big").set_display_name("big")
        with dsl.If(n > 10):
            echo(text="huge").set_display_name("huge")
        with dsl.If(n < 0):
            echo(text="never").set_display_name("never")
            with dsl.If(n < -5):
                echo(text="never-ever").set_display_name("never-ever")
    big.after(report)
    return report.output


def test_if_elif_else_on_a_task_output_with_one_of(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    spec = compile_pipeline(branches)
    for side, expected in [("heads", "took heads"), ("tails", "took tails"), ("edge", "took edge")]:
        snapshot = run_spec(spec, {"side": side})
        assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
        assert task(snapshot, "report").outputs.parameters["Output"] == expected
        taken = {"heads": "on-heads", "tails": "on-tails", "edge": "on-edge"}[side]
        for branch in ("on-heads", "on-tails", "on-edge"):
            want = TaskState.SUCCEEDED if branch == taken else TaskState.NOT_TRIGGERED
            assert states(snapshot)[branch] is want, (side, branch)


def test_conditions_on_parameters_nested_and_never_true(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(branches), {"n": 5})
    got = states(snapshot)
    assert got["big"] is TaskState.SUCCEEDED
    assert got["huge"] is TaskState.NOT_TRIGGERED
    # a false branch: everything below it is NOT_TRIGGERED too, all the way down, and nothing ran
    assert got["never"] is TaskState.NOT_TRIGGERED and got["never-ever"] is TaskState.NOT_TRIGGERED
    assert task(snapshot, "never-ever").attempt == 0
    small = run_spec(compile_pipeline(branches), {"n": 2})
    assert states(small)["big"] is TaskState.NOT_TRIGGERED
    assert small.job.state is PipelineState.SUCCEEDED


@dsl.component(base_image=IMAGE)
def describe(a: int, b: int) -> str:
    if type(a) is not int or type(b) is not int:
        raise TypeError(f"expected ints, got {a!r} {b!r}")
    return f"{b}-{a}"


@dsl.component(base_image=IMAGE)
def join(parts: list[str]) -> str:
    return ",".join(parts)


@dsl.pipeline(name="loops")
def loops(xs: list[int] = [1, 2, 3], n: int = 2) -> int:  # noqa: B006
    with dsl.ParallelFor([4, 5]) as raw:
        square(x=raw).set_display_name("sq-raw")
    with dsl.ParallelFor(xs) as x:
        sq = square(x=x).set_display_name("sq-param")
    summed = total(xs=dsl.Collected(sq.output)).set_display_name("sum")
    with dsl.ParallelFor(numbers(n=n).output) as y:
        with dsl.ParallelFor([10, 20]) as z:
            square(x=y).set_display_name("sq-outer")
            square(x=z).set_display_name("sq-inner")
    with dsl.ParallelFor([{"a": 1, "b": 10}, {"a": 2, "b": 20}]) as item:
        described = describe(a=item.a, b=item.b).set_display_name("describe")
    join(parts=dsl.Collected(described.output)).set_display_name("join")
    with dsl.ParallelFor(numbers(n=0).output, parallelism=1) as nothing:
        square(x=nothing).set_display_name("sq-none")
    return summed.output


def test_parallel_for_every_kind_and_collected(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(loops), {"xs": [3, 4, 5], "n": 3})

    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    assert task(snapshot, "sum").outputs.parameters["Output"] == 50
    assert task(snapshot, "join").outputs.parameters["Output"] == "10-1,20-2"
    raw = sorted(t.outputs.parameters["Output"] for t in snapshot.tasks if t.name == "sq-raw")
    assert raw == [16, 25]
    inner = [t for t in snapshot.tasks if t.name == "sq-inner"]
    assert len(inner) == 3 * 2
    assert sorted(t.outputs.parameters["Output"] for t in snapshot.tasks if t.name == "sq-outer") == [0, 0, 1, 1, 4, 4]
    loop_rows = [t for t in snapshot.tasks if t.kind is TaskKind.LOOP]
    iterations = [t for t in snapshot.tasks if t.kind is TaskKind.ITERATION]
    assert all(t.state is TaskState.SUCCEEDED for t in loop_rows + iterations)
    by_id = {t.task_id: t for t in snapshot.tasks}
    assert all(by_id[i.parent_id].kind is TaskKind.LOOP for i in iterations if i.parent_id)
    assert {i.detail["iterationIndex"] for i in iterations if by_id[i.parent_id or 0].name == "for-loop-2"} == {0, 1}
    assert not [t for t in snapshot.tasks if t.name == "sq-none"]
    assert task(snapshot, "loops").outputs.parameters["Output"] == 50


@dsl.component(base_image=IMAGE)
def make(tag: str, out: Output[Dataset]) -> None:
    with open(out.path, "w") as f:
        f.write(tag)


@dsl.component(base_image=IMAGE)
def read_all(items: Input[list[Dataset]]) -> str:
    return "".join(open(d.path).read() for d in items)


@dsl.component(base_image=IMAGE)
def read_one(item: Input[Dataset]) -> str:
    return open(item.path).read().upper()


@dsl.pipeline(name="upper-all")
def upper_all(items: Input[list[Dataset]]) -> None:
    with dsl.ParallelFor(items) as art:
        read_one(item=art).set_display_name("upper")


@dsl.pipeline(name="artifact-loops")
def artifact_loops() -> str:
    with dsl.ParallelFor(["a", "b", "c"]) as tag:
        made = make(tag=tag)
    gathered = read_all(items=dsl.Collected(made.outputs["out"])).set_display_name("gathered")
    upper_all(items=dsl.Collected(made.outputs["out"]))
    return gathered.output


def test_collected_artifacts_and_a_loop_over_artifacts(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    spec = compile_pipeline(artifact_loops)
    snapshot = run_spec(spec)
    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    assert task(snapshot, "gathered").outputs.parameters["Output"] == "abc"
    assert sorted(t.outputs.parameters["Output"] for t in snapshot.tasks if t.name == "upper") == ["A", "B", "C"]


@dsl.component(base_image=IMAGE)
def boom(text: str) -> str:
    raise RuntimeError(f"boom {text}")


@dsl.component(base_image=IMAGE)
def cleanup(status: dsl.PipelineTaskFinalStatus) -> str:
    return f"{status.state}:{status.pipeline_task_name}:{status.error_message or ''}"


@dsl.pipeline(name="exit-ok")
def exit_ok() -> None:
    handler = cleanup().set_display_name("cleanup")
    with dsl.ExitHandler(handler, name="body"):
        echo(text="fine")


@dsl.pipeline(name="exit-failed")
def exit_failed() -> None:
    handler = cleanup().set_display_name("cleanup")
    with dsl.ExitHandler(handler, name="body"):
        boom(text="x").set_display_name("boom")
    after = echo(text="anyway").set_display_name("anyway").after(boom(text="y").set_display_name("boom-2"))
    after.ignore_upstream_failure()


def test_exit_handler_after_success(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(exit_ok))
    assert snapshot.job.state is PipelineState.SUCCEEDED
    assert task(snapshot, "cleanup").outputs.parameters["Output"] == "SUCCEEDED:body:"


def test_exit_handler_after_failure_and_ignore_upstream_failure(compile_pipeline: Compile,
                                                                 run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(exit_failed))
    assert snapshot.job.state is PipelineState.FAILED
    status = task(snapshot, "cleanup").outputs.parameters["Output"]
    assert status.startswith("FAILED:body:") and "boom" in status
    assert states(snapshot)["anyway"] is TaskState.SUCCEEDED
    assert "boom" in str(snapshot.job.error)


@dsl.pipeline(name="inner")
def inner(x: int) -> int:
    return square(x=square(x=x).output).output


@dsl.pipeline(name="outer")
def outer(x: int = 2) -> int:
    first = inner(x=x).set_display_name("first")
    second = inner(x=first.output).set_display_name("second")
    with dsl.ParallelFor([1, 2]) as i:
        looped = inner(x=i).set_display_name("looped")
    total(xs=dsl.Collected(looped.output)).set_display_name("sum")
    return second.output


def test_nested_pipeline_used_twice_and_inside_a_loop(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(outer), {"x": 2})
    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    assert task(snapshot, "first").outputs.parameters["Output"] == 16
    assert task(snapshot, "second").outputs.parameters["Output"] == 16**4
    assert task(snapshot, "sum").outputs.parameters["Output"] == 1 + 16
    assert task(snapshot, "outer").outputs.parameters["Output"] == 16**4
    assert task(snapshot, "first").kind is TaskKind.DAG


@dsl.component(base_image=IMAGE)
def flaky(marker: str) -> int:
    import os
    import time

    with open(marker, "a") as f:
        f.write(f"{time.time()}\n")
    tries = len(open(marker).read().splitlines())
    if tries < 3:
        os._exit(5)
    return tries


@dsl.pipeline(name="flaky-pipe")
def flaky_pipeline(marker: str) -> int:
    return flaky(marker=marker).set_retry(num_retries=3, backoff_duration="1s", backoff_factor=2).output


def test_flaky_task_succeeds_on_its_third_attempt(compile_pipeline: Compile, run_spec: RunSpec, tmp_path: Any) -> None:
    marker = tmp_path / "tries"
    snapshot = run_spec(compile_pipeline(flaky_pipeline), {"marker": str(marker)})
    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    t = task(snapshot, "flaky")
    assert t.outputs.parameters["Output"] == 3 and t.attempt == 3 and t.error is None
    times = [float(line) for line in marker.read_text().splitlines()]
    assert times[1] - times[0] >= 0.9 and times[2] - times[1] >= 1.9  # 1 s, then 1 s x 2
    assert [h.state for h in t.history] == [TaskState.PENDING, TaskState.RUNNING, TaskState.FAILED,
                                            TaskState.PENDING, TaskState.RUNNING, TaskState.FAILED,
                                            TaskState.PENDING, TaskState.RUNNING, TaskState.SUCCEEDED]
    failures = [h.error for h in t.history if h.state is TaskState.FAILED]
    assert all(e and "status of 5" in str(e["message"]) for e in failures)
    assert len(t.detail["failedAttempts"]) == 2


@dsl.component(base_image=IMAGE)
def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="policy")
def policy() -> None:
    boom(text="now").set_display_name("boom")
    slow = nap(seconds=1.5).set_display_name("slow")
    echo(text="later").set_display_name("later").after(slow)


def test_fail_fast_versus_fail_slow(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    spec = with_caching(compile_pipeline(policy), enabled=False)  # the second run must not reuse the first
    slow_run = run_spec(spec)
    assert slow_run.job.state is PipelineState.FAILED
    assert states(slow_run)["later"] is TaskState.SUCCEEDED
    fast = run_spec(spec, runtime_config={"failurePolicy": "PIPELINE_FAILURE_POLICY_FAIL_FAST"})
    assert fast.job.state is PipelineState.FAILED
    assert states(fast)["slow"] is TaskState.SUCCEEDED  # already running: it finishes
    assert "later" not in states(fast)  # never started after the failure
    assert fast.job.error and "boom" in str(fast.job.error["message"])


@dsl.component(base_image=IMAGE)
def position(x: int, xs: list[int]) -> int:
    return xs.index(x)


@dsl.pipeline(name="loop-sees-its-list")
def loop_sees_its_list(xs: list[int] = [7, 8, 9]) -> list[int]:  # noqa: B006
    with dsl.ParallelFor(xs) as x:
        found = position(x=x, xs=xs)
    return dsl.Collected(found.output)


def test_a_loop_body_can_read_the_list_it_iterates(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(loop_sees_its_list))
    assert snapshot.job.state is PipelineState.SUCCEEDED, snapshot.job.error
    assert task(snapshot, "loop-sees-its-list").outputs.parameters["Output"] == [0, 1, 2]
