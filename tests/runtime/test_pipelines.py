"""End to end: pipelines compiled by the real kfp compiler, run by Sluice with real subprocesses.

Every component is defined at module level (kfp compiles a lightweight component from its source) and
uses only the standard library; values are checked inside the components too, so a wrongly typed or
wrongly resolved input fails the task instead of passing unnoticed.
"""

# Components import inside their bodies: kfp ships only the function's source to the task.

import importlib.metadata
import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, List, NamedTuple, Optional  # noqa: UP035 - kfp's own annotation forms

from kfp import dsl
from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
)

from sluice.config import Settings
from sluice.domain.records import Snapshot, TaskRecord
from sluice.domain.states import PipelineState, TaskState
from tests.conftest import Compile, RunSpec, run_on, task

IMAGE = "python:3.11"


def _root(snapshot: Snapshot) -> TaskRecord:
    return next(t for t in snapshot.tasks if t.parent_id is None)


def _log_tail(t: TaskRecord) -> str:
    log = t.detail.get("lastLog")
    return Path(str(log)).read_text()[-1500:] if log and Path(str(log)).exists() else ""


def _succeeded(snapshot: Snapshot) -> None:
    failed = {t.name: (t.state.name, t.error, _log_tail(t)) for t in snapshot.tasks
              if t.state is not TaskState.SUCCEEDED}
    assert snapshot.job.state is PipelineState.SUCCEEDED, (snapshot.job.error, failed)
    assert not failed, failed


def _expected_uri(snapshot: Snapshot, t: TaskRecord, key: str) -> str:
    return f"{snapshot.job.output_dir}/{snapshot.job.job_id}/{t.task_id}/{key}"


# ---------------------------------------------------------------------------------------------------------
# 1. Parameter types as inputs and outputs


@dsl.component(base_image=IMAGE)
def typed(
    s: str = "dflt",
    i: int = 11,
    f: float = 1.25,
    b: bool = False,
    lst: list = [1, "a"],  # noqa: B006 - kfp reads the default from the signature
    dct: dict = {"k": 1},  # noqa: B006
    ints: List[int] = [7, 8],  # noqa: B006, UP006
    opt: Optional[str] = None,  # noqa: UP045
) -> NamedTuple(
    "Outputs", s=str, i=int, f=float, b=bool, lst=list, dct=dict, total=int, opt_is_none=bool, opt=str,
):
    checks = [("s", s, str), ("i", i, int), ("f", f, float), ("b", b, bool), ("lst", lst, list), ("dct", dct, dict)]
    for name, value, expected in checks:
        if type(value) is not expected:
            raise TypeError(f"{name}={value!r} is a {type(value).__name__}, expected {expected.__name__}")
    for item in ints:
        if type(item) is not int:
            raise TypeError(f"ints item {item!r} is a {type(item).__name__}, expected int")
    if opt is not None and type(opt) is not str:
        raise TypeError(f"opt={opt!r} is a {type(opt).__name__}")
    return (s, i, f, b, lst, dct, sum(ints), opt is None, "" if opt is None else opt)


@dsl.component(base_image=IMAGE)
def path_outputs(
    n: OutputPath(int), flag: OutputPath(bool), items: OutputPath(list), text: OutputPath(str),
):
    import json
    import pathlib

    pathlib.Path(n).write_text("42")
    pathlib.Path(flag).write_text("True")  # what str(True) gives: read case-insensitively
    pathlib.Path(items).write_text(json.dumps([1, "two", {"three": 3}]))
    pathlib.Path(text).write_text("  spaced\nlines \n")  # strings are taken verbatim


@dsl.pipeline(name="param-types")
def param_types_pipeline(
    s: str = "pipeline default",
    i: int = 5,
    f: float = 0.5,
    b: bool = True,
    lst: list = [1, "x", 2.5],  # noqa: B006
    dct: dict = {"k": "v", "n": 2},  # noqa: B006
    ints: List[int] = [0, 1, 2],  # noqa: B006, UP006
):
    given = typed(s=s, i=i, f=f, b=b, lst=lst, dct=dct, ints=ints).set_display_name("from-params")
    typed().set_display_name("from-defaults")
    typed(
        s=given.outputs["s"], i=given.outputs["i"], f=given.outputs["f"], b=given.outputs["b"],
        lst=given.outputs["lst"], dct=given.outputs["dct"], opt=given.outputs["s"],
    ).set_display_name("from-outputs")
    path_outputs()


def _outputs(snapshot: Snapshot, name: str) -> dict[str, Any]:
    params: dict[str, Any] = task(snapshot, name).outputs.parameters
    return params


def test_parameter_types_from_runtime_values(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    values = {
        "s": "ab c",
        "i": 3,
        "f": 2,  # an int for a float parameter: the component must still get a float
        "b": False,
        "lst": [1, "x", 2.5, None, {"z": 1}],
        "dct": {"a": [1, 2], "b": {"c": "d"}},
        "ints": [0, 1, 2],
    }
    snapshot = run_spec(compile_pipeline(param_types_pipeline), values)
    _succeeded(snapshot)

    given = task(snapshot, "from-params")
    assert given.inputs.parameters["s"] == "ab c"
    assert given.inputs.parameters["i"] == 3
    assert given.inputs.parameters["ints"] == [0, 1, 2]
    out = given.outputs.parameters
    assert out["s"] == "ab c"
    assert out["i"] == 3 and type(out["i"]) is int
    assert out["f"] == 2.0 and type(out["f"]) is float
    assert out["b"] is False
    assert out["lst"] == [1, "x", 2.5, None, {"z": 1}]
    assert out["dct"] == {"a": [1, 2], "b": {"c": "d"}}
    assert out["total"] == 3 and type(out["total"]) is int
    assert out["opt_is_none"] is True
    assert out["opt"] == ""

    # Outputs of one task as inputs of the next; `opt` is given this time.
    chained = task(snapshot, "from-outputs").outputs.parameters
    assert chained["s"] == "ab c"
    assert chained["i"] == 3
    assert chained["f"] == 2.0 and type(chained["f"]) is float
    assert chained["b"] is False
    assert chained["lst"] == [1, "x", 2.5, None, {"z": 1}]
    assert chained["dct"] == {"a": [1, 2], "b": {"c": "d"}}
    assert chained["total"] == 15  # the component's own default [7, 8]
    assert chained["opt_is_none"] is False
    assert chained["opt"] == "ab c"


def test_parameter_types_from_defaults(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(param_types_pipeline), {})
    _succeeded(snapshot)

    assert snapshot.job.parameters["ints"] == [0, 1, 2]
    out = _outputs(snapshot, "from-params")
    assert out["s"] == "pipeline default"
    assert out["i"] == 5
    assert out["f"] == 0.5
    assert out["b"] is True
    assert out["lst"] == [1, "x", 2.5]
    assert out["dct"] == {"k": "v", "n": 2}
    assert out["total"] == 3  # sum of the pipeline default [0, 1, 2], each checked to be an int
    assert out["opt_is_none"] is True

    # No arguments at all: the component's own defaults, and None for the optional input.
    dflt = _outputs(snapshot, "from-defaults")
    assert dflt == {
        "s": "dflt", "i": 11, "f": 1.25, "b": False, "lst": [1, "a"], "dct": {"k": 1}, "total": 15,
        "opt_is_none": True, "opt": "",
    }
    assert type(dflt["f"]) is float

    paths = _outputs(snapshot, "path-outputs")
    assert paths == {"n": 42, "flag": True, "items": [1, "two", {"three": 3}], "text": "  spaced\nlines \n"}
    assert type(paths["n"]) is int


# ---------------------------------------------------------------------------------------------------------
# 2. Artifacts of every system type


@dsl.component(base_image=IMAGE)
def make_artifacts(
    art: Output[Artifact],
    ds: Output[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    cls: Output[ClassificationMetrics],
    html: Output[HTML],
    md: Output[Markdown],
):
    for artifact, text in [(art, "plain"), (ds, "a,b\n1,2\n"), (model, "weights"), (html, "<h1>hi</h1>"),
                           (md, "# hi")]:
        with open(artifact.path, "w") as f:
            f.write(text)
    ds.metadata["rows"] = 1
    model.metadata["framework"] = "none"
    metrics.log_metric("accuracy", 0.9)
    metrics.log_metric("count", 3)
    cls.log_confusion_matrix(["cat", "dog"], [[1, 2], [3, 4]])
    cls.log_roc_curve([0.0, 0.5], [0.5, 1.0], [0.9, 0.1])


@dsl.component(base_image=IMAGE)
def return_dataset(text: str) -> Dataset:
    return text


@dsl.component(base_image=IMAGE)
def read_artifacts(
    returned: Input[Dataset], ds: Input[Dataset], model: Input[Model], metrics: Input[Metrics], md: Input[Markdown],
) -> NamedTuple("Outputs", returned=str, ds=str, rows=int, model=str, framework=str, accuracy=float, md=str,
                ds_uri=str, ds_path=str):
    def read(a):
        with open(a.path) as f:
            return f.read()

    return (read(returned), read(ds), ds.metadata["rows"], read(model), model.metadata["framework"],
            metrics.metadata["accuracy"], read(md), ds.uri, ds.path)


@dsl.pipeline(name="artifact-types")
def artifact_pipeline(text: str = "returned text"):
    made = make_artifacts()
    returned = return_dataset(text=text)
    read_artifacts(returned=returned.output, ds=made.outputs["ds"], model=made.outputs["model"],
                   metrics=made.outputs["metrics"], md=made.outputs["md"])


def test_artifacts_of_each_type(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(artifact_pipeline), {"text": "from the return value"})
    _succeeded(snapshot)

    made = task(snapshot, "make-artifacts")
    arts = {k: v[0] for k, v in made.outputs.artifacts.items()}
    assert {k: len(v) for k, v in made.outputs.artifacts.items()} == dict.fromkeys(
        ["art", "ds", "model", "metrics", "cls", "html", "md"], 1)
    assert {k: a.schema_title for k, a in arts.items()} == {
        "art": "system.Artifact", "ds": "system.Dataset", "model": "system.Model", "metrics": "system.Metrics",
        "cls": "system.ClassificationMetrics", "html": "system.HTML", "md": "system.Markdown",
    }
    for key, artifact in arts.items():
        assert artifact.uri == _expected_uri(snapshot, made, key), key
    for key, text in [("art", "plain"), ("ds", "a,b\n1,2\n"), ("model", "weights"), ("html", "<h1>hi</h1>"),
                      ("md", "# hi")]:
        assert Path(arts[key].uri).read_text() == text, key
    assert arts["ds"].metadata == {"rows": 1}
    assert arts["model"].metadata == {"framework": "none"}
    assert arts["metrics"].metadata == {"accuracy": 0.9, "count": 3}
    assert arts["cls"].metadata["confusionMatrix"] == {
        "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
        "rows": [{"row": [1, 2]}, {"row": [3, 4]}],
    }
    assert arts["cls"].metadata["confidenceMetrics"] == [
        {"confidenceThreshold": 0.9, "recall": 0.5, "falsePositiveRate": 0.0},
        {"confidenceThreshold": 0.1, "recall": 1.0, "falsePositiveRate": 0.5},
    ]

    # `-> Dataset`: kfp writes the returned value as text to the artifact's path, under the key `Output`.
    returned = task(snapshot, "return-dataset")
    (out,) = returned.outputs.artifacts["Output"]
    assert out.schema_title == "system.Dataset"
    assert out.uri == _expected_uri(snapshot, returned, "Output")
    assert Path(out.uri).read_text() == "from the return value"

    reader = task(snapshot, "read-artifacts")
    assert reader.inputs.artifacts["ds"][0].uri == arts["ds"].uri
    assert reader.inputs.artifacts["returned"][0].uri == out.uri
    assert reader.outputs.parameters == {
        "returned": "from the return value", "ds": "a,b\n1,2\n", "rows": 1, "model": "weights",
        "framework": "none", "accuracy": 0.9, "md": "# hi", "ds_uri": arts["ds"].uri, "ds_path": arts["ds"].uri,
    }


# ---------------------------------------------------------------------------------------------------------
# 3. A diamond


@dsl.component(base_image=IMAGE)
def add(x: int, y: int) -> int:
    return x + y


@dsl.component(base_image=IMAGE)
def join(left: int, right: int) -> str:
    return f"{left}+{right}"


@dsl.pipeline(name="diamond")
def diamond_pipeline(n: int = 1):
    a = add(x=n, y=1).set_display_name("a")
    b = add(x=a.output, y=10).set_display_name("b")
    c = add(x=a.output, y=100).set_display_name("c")
    join(left=b.output, right=c.output).set_display_name("d")


def test_diamond(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(diamond_pipeline), {"n": 3})
    _succeeded(snapshot)

    a, b, c, d = (task(snapshot, name) for name in "abcd")
    assert a.inputs.parameters == {"x": 3, "y": 1}
    assert a.outputs.parameters == {"Output": 4}
    assert b.inputs.parameters == {"x": 4, "y": 10}
    assert b.outputs.parameters == {"Output": 14}
    assert c.outputs.parameters == {"Output": 104}
    assert d.inputs.parameters == {"left": 14, "right": 104}
    assert d.outputs.parameters == {"Output": "14+104"}
    assert all(t.start_time and t.end_time for t in (a, b, c, d))
    assert a.end_time <= b.start_time and a.end_time <= c.start_time
    assert b.end_time <= d.start_time and c.end_time <= d.start_time
    assert {t.key for t in snapshot.tasks if t.parent_id is not None} == {"add", "add-2", "add-3", "join"}


# ---------------------------------------------------------------------------------------------------------
# 4. Container components

_LINES = 'out="$1"; shift; mkdir -p "$(dirname "$out")" && printf "%s\\n" "$@" > "$out"'


@dsl.container_component
def greet(name: str, out: OutputPath(str), suffix: Optional[str] = None):  # noqa: UP045
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", _LINES, "greet"],
        args=[
            out,
            dsl.ConcatPlaceholder(["hello ", name, "!"]),
            dsl.IfPresentPlaceholder(input_name="suffix", then=["--suffix", suffix], else_=["--no-suffix"]),
            dsl.IfPresentPlaceholder(input_name="suffix", then=[dsl.ConcatPlaceholder(["s=", suffix])]),
            "end",
        ],
    )


@dsl.container_component
def write_rows(rows: int, ds: Output[Dataset]):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'mkdir -p "$(dirname "$0")" && seq 1 "$1" > "$0"'],
        args=[ds.path, rows],
    )


@dsl.component(base_image=IMAGE)
def collect(with_suffix: str, without_suffix: str, ds: Input[Dataset]) -> NamedTuple(
    "Outputs", with_suffix=list, without_suffix=list, rows=list,
):
    with open(ds.path) as f:
        rows = f.read().split()
    return (with_suffix.splitlines(), without_suffix.splitlines(), rows)


@dsl.pipeline(name="containers")
def container_pipeline(who: str = "world"):
    given = greet(name=who, suffix="x").set_display_name("greet-with")
    absent = greet(name="b").set_display_name("greet-without")
    rows = write_rows(rows=3)
    collect(with_suffix=given.outputs["out"], without_suffix=absent.outputs["out"], ds=rows.outputs["ds"])


def test_container_components(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(container_pipeline), {"who": "a"})
    _succeeded(snapshot)

    assert task(snapshot, "greet-with").outputs.parameters == {"out": "hello a!\n--suffix\nx\ns=x\nend\n"}
    assert task(snapshot, "greet-without").outputs.parameters == {"out": "hello b!\n--no-suffix\nend\n"}
    assert task(snapshot, "greet-with").detail.get("image") == "alpine"

    writer = task(snapshot, "write-rows")
    (ds,) = writer.outputs.artifacts["ds"]
    assert ds.uri == _expected_uri(snapshot, writer, "ds")
    assert Path(ds.uri).read_text() == "1\n2\n3\n"

    assert task(snapshot, "collect").outputs.parameters == {
        "with_suffix": ["hello a!", "--suffix", "x", "s=x", "end"],
        "without_suffix": ["hello b!", "--no-suffix", "end"],
        "rows": ["1", "2", "3"],
    }


_ARGV_TO_FILE = (
    "import json, pathlib, sys; p = pathlib.Path(sys.argv[-1]); p.parent.mkdir(parents=True, exist_ok=True); "
    "p.write_text(json.dumps(sys.argv[1:-1]))"
)


@dsl.container_component
def argv_echo(value: str, out: OutputPath(str)):
    return dsl.ContainerSpec(image="alpine", command=["python3", "-c", _ARGV_TO_FILE], args=[value, out])


@dsl.component(base_image=IMAGE)
def echo_text(text: str) -> str:
    return text


@dsl.pipeline(name="shell-metacharacters")
def metachar_pipeline(value: str):
    argv_echo(value=value)
    echo_text(text=value)


def test_shell_metacharacters_arrive_verbatim_as_one_argument(
    compile_pipeline: Compile, run_spec: RunSpec, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = (
        f'"; touch {marker}1 #$(touch {marker}2) `touch {marker}3` && echo $HOME; '
        f"'quoted' \\back\\slash\n\ttab * ?{{}} | > {marker}4 {{{{$.pipeline_job_name}}}} $$ %s"
    )
    assert "{{$.pipeline_job_name}}" in value  # a value is data: placeholders in it are not resolved
    snapshot = run_spec(compile_pipeline(metachar_pipeline), {"value": value})
    _succeeded(snapshot)

    assert json.loads(task(snapshot, "argv-echo").outputs.parameters["out"]) == [value]
    assert task(snapshot, "echo-text").outputs.parameters["Output"] == value
    assert not list(tmp_path.glob("pwned*"))


# ---------------------------------------------------------------------------------------------------------
# 5. Importer


@dsl.component(base_image=IMAGE)
def read_imported(first: Input[Dataset], second: Input[Dataset]) -> NamedTuple(
    "Outputs", first=str, second=str, source=str, rows=str, rows_type=str, first_uri=str,
):
    with open(first.path) as f1, open(second.path) as f2:
        rows = first.metadata["rows"]
        return (f1.read(), f2.read(), first.metadata["source"], str(rows), type(rows).__name__, first.uri)


def test_importer_feeds_a_component(compile_pipeline: Compile, run_spec: RunSpec, tmp_path: Path) -> None:
    first_file = tmp_path / "data" / "first.csv"
    first_file.parent.mkdir()
    first_file.write_text("x\n1\n2\n")
    second_file = tmp_path / "data" / "second.txt"
    second_file.write_text("second")

    @dsl.pipeline(name="importing")
    def importer_pipeline(uri: str):
        first = dsl.importer(artifact_uri=uri, artifact_class=Dataset, metadata={"source": "test", "rows": 2})
        second = dsl.importer(artifact_uri=second_file.as_uri(), artifact_class=Dataset)
        read_imported(first=first.output, second=second.output)

    snapshot = run_spec(compile_pipeline(importer_pipeline), {"uri": str(first_file)})
    _succeeded(snapshot)

    (imported,) = task(snapshot, "importer").outputs.artifacts["artifact"]
    assert imported.uri == str(first_file)
    assert imported.schema_title == "system.Dataset"
    assert imported.metadata == {"source": "test", "rows": 2}
    (second,) = task(snapshot, "importer-2").outputs.artifacts["artifact"]
    assert second.uri == str(second_file)  # file:// is stored as the local path
    read = task(snapshot, "read-imported").outputs.parameters
    assert first_file.read_text() == "x\n1\n2\n"  # the importer copies nothing and changes nothing
    assert {k: v for k, v in read.items() if k not in ("rows", "rows_type")} == {
        "first": "x\n1\n2\n", "second": "second", "source": "test", "first_uri": str(first_file),
    }
    # The importer's metadata is a protobuf Struct in the IR (`rows: 2.0`). Sluice renders integral numbers
    # inside structs as ints everywhere else (as Vertex and KFP's Go backend do): the importer's too.
    assert type(imported.metadata["rows"]) is int, imported.metadata
    assert (read["rows"], read["rows_type"]) == ("2", "int")


# ---------------------------------------------------------------------------------------------------------
# 6. Pipeline outputs


@dsl.component(base_image=IMAGE)
def train(scale: float, model: Output[Model]) -> float:
    with open(model.path, "w") as f:
        f.write(f"scale={scale}")
    model.metadata["scale"] = scale
    return scale * 0.5


@dsl.pipeline(name="pipeline-outputs")
def outputs_pipeline(scale: float = 1.0) -> NamedTuple("Outputs", score=float, model=Model):
    trained = train(scale=scale)
    outputs = NamedTuple("Outputs", score=float, model=Model)  # noqa: UP014 - as kfp documents it
    return outputs(score=trained.outputs["Output"], model=trained.outputs["model"])


@dsl.pipeline(name="pipeline-float-output")
def float_output_pipeline(scale: float = 1.0) -> float:
    return train(scale=scale).outputs["Output"]


def test_pipeline_outputs(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(outputs_pipeline), {"scale": 1.5})
    _succeeded(snapshot)

    trained = task(snapshot, "train")
    (model,) = trained.outputs.artifacts["model"]
    assert model.uri == _expected_uri(snapshot, trained, "model")
    assert Path(model.uri).read_text() == "scale=1.5"
    root = _root(snapshot)
    assert root.name == "pipeline-outputs"
    assert root.state is TaskState.SUCCEEDED
    assert root.inputs.parameters == {"scale": 1.5}
    assert root.outputs.parameters == {"score": 0.75}
    (root_model,) = root.outputs.artifacts["model"]
    assert root_model.uri == model.uri
    assert root_model.schema_title == "system.Model"
    assert root_model.metadata == {"scale": 1.5}


def test_pipeline_single_output(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(float_output_pipeline), {"scale": 3.0})
    _succeeded(snapshot)
    assert _root(snapshot).outputs.parameters == {"Output": 1.5}


# ---------------------------------------------------------------------------------------------------------
# 7. Job placeholders


@dsl.component(base_image=IMAGE)
def show(
    job_name: str, resource: str, job_uuid: str, task_name: str, task_uuid: str, root: str, created: str,
    greeting: str,
) -> dict:
    return {"job_name": job_name, "resource": resource, "job_uuid": job_uuid, "task_name": task_name,
            "task_uuid": task_uuid, "root": root, "created": created, "greeting": greeting}


@dsl.container_component
def show_in_args(out: OutputPath(str)):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", _LINES, "show"],
        args=[out, dsl.PIPELINE_JOB_NAME_PLACEHOLDER, dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
              dsl.ConcatPlaceholder(["root=", dsl.PIPELINE_ROOT_PLACEHOLDER])],
    )


@dsl.pipeline(name="job-placeholders")
def placeholder_pipeline(name: str = "world"):
    show(
        job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        resource=dsl.PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER,
        job_uuid=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        task_name=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
        task_uuid=dsl.PIPELINE_TASK_ID_PLACEHOLDER,
        root=dsl.PIPELINE_ROOT_PLACEHOLDER,
        created=dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER,
        greeting=f"hello {name}, from {dsl.PIPELINE_JOB_NAME_PLACEHOLDER}",
    ).set_display_name("shower")
    show_in_args()


def test_job_placeholders(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(placeholder_pipeline), {"name": "sluice"})
    _succeeded(snapshot)
    job = snapshot.job

    shower = task(snapshot, "shower")
    got = shower.outputs.parameters["Output"]
    assert got["job_name"] == job.job_id
    assert got["resource"] == job.name
    assert got["resource"].endswith(f"/pipelineJobs/{job.job_id}")
    assert got["job_uuid"] == job.uuid
    assert got["task_name"] == "shower"
    assert got["task_uuid"] == str(shower.task_id)
    assert got["root"] == job.output_dir
    created = job.create_time.astimezone(UTC) if job.create_time.tzinfo else job.create_time.replace(tzinfo=UTC)
    assert datetime.strptime(got["created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) == created
    assert got["greeting"] == f"hello sluice, from {job.job_id}"

    assert task(snapshot, "show-in-args").outputs.parameters["out"] == (
        f"{job.job_id}\nshow-in-args\nroot={job.output_dir}\n"
    )


# ---------------------------------------------------------------------------------------------------------
# 8. Concurrency


@dsl.component(base_image=IMAGE)
def sleeper(seconds: float) -> NamedTuple("Outputs", start=float, end=float):
    import time

    start = time.time()
    time.sleep(seconds)
    return (start, time.time())


@dsl.pipeline(name="two-sleepers")
def sleepers_pipeline(seconds: float = 1.5):
    sleeper(seconds=seconds).set_display_name("left")
    sleeper(seconds=seconds).set_display_name("right")


def _interval(snapshot: Snapshot, name: str) -> tuple[float, float]:
    out = task(snapshot, name).outputs.parameters
    return out["start"], out["end"]


def test_independent_tasks_run_concurrently(compile_pipeline: Compile, run_spec: RunSpec) -> None:
    snapshot = run_spec(compile_pipeline(sleepers_pipeline), {"seconds": 1.5})
    _succeeded(snapshot)
    (l_start, l_end), (r_start, r_end) = _interval(snapshot, "left"), _interval(snapshot, "right")
    assert l_end - l_start >= 1.5 and r_end - r_start >= 1.5
    overlap = min(l_end, r_end) - max(l_start, r_start)
    assert overlap > 0, (l_start, l_end, r_start, r_end)  # one after the other would leave a gap instead


def test_max_parallel_one_runs_tasks_one_at_a_time(
    compile_pipeline: Compile, tmp_path: Path, envs_dir: Path
) -> None:
    settings = Settings(root=tmp_path / "serial", envs_dir=envs_dir, max_parallel=1, cancel_grace_seconds=2.0)
    snapshot = run_on(settings, compile_pipeline(sleepers_pipeline), {"seconds": 0.3})
    _succeeded(snapshot)
    (l_start, l_end), (r_start, r_end) = _interval(snapshot, "left"), _interval(snapshot, "right")
    assert l_end <= r_start or r_end <= l_start, (l_start, l_end, r_start, r_end)


# ---------------------------------------------------------------------------------------------------------
# 9. Sluice's own environment is left alone


@dsl.component(base_image=IMAGE, packages_to_install=["pyjokes==0.8.3"])
def uses_package() -> NamedTuple("Outputs", version=str, prefix=str, location=str, kfp_location=str):
    import sys
    from importlib.metadata import version

    import kfp
    import pyjokes

    return (version("pyjokes"), sys.prefix, pyjokes.__file__, kfp.__file__)


@dsl.pipeline(name="packages-to-install")
def package_pipeline():
    uses_package()


def _distributions() -> list[str]:
    return sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())


def test_lightweight_component_leaves_sluice_environment_untouched(
    compile_pipeline: Compile, run_spec: RunSpec, envs_dir: Path
) -> None:
    before = _distributions()
    snapshot = run_spec(compile_pipeline(package_pipeline))
    _succeeded(snapshot)
    after = _distributions()

    out = task(snapshot, "uses-package").outputs.parameters
    assert out["version"] == "0.8.3"
    assert Path(out["prefix"]).resolve() != Path(sys.prefix).resolve()
    assert Path(out["prefix"]).resolve() != Path(sys.base_prefix).resolve()
    assert Path(out["location"]).resolve().is_relative_to(Path(out["prefix"]).resolve())
    assert Path(out["kfp_location"]).resolve().is_relative_to(Path(out["prefix"]).resolve())
    assert Path(out["prefix"]).resolve().is_relative_to(envs_dir.resolve())
    assert after == before
    assert importlib.util.find_spec("pyjokes") is None


@dsl.component(base_image=IMAGE, packages_to_install=["pyjokes==0.6.0"])
def uses_older_package() -> str:
    from importlib.metadata import version

    return version("pyjokes")


@dsl.component(base_image=IMAGE)
def asks_for_nothing() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyjokes") is not None


@dsl.pipeline(name="installs-kept-apart")
def installs_pipeline():
    first = uses_package()
    older = uses_older_package().after(first)
    asks_for_nothing().after(older)


def test_a_task_sees_only_the_packages_it_asked_for(
    compile_pipeline: Compile, run_spec: RunSpec, envs_dir: Path
) -> None:
    snapshot = run_spec(compile_pipeline(installs_pipeline))
    _succeeded(snapshot)
    assert task(snapshot, "uses-package").outputs.parameters["version"] == "0.8.3"
    assert task(snapshot, "uses-older-package").outputs.parameters["Output"] == "0.6.0"  # changed requirements
    assert task(snapshot, "asks-for-nothing").outputs.parameters["Output"] is False  # no one else's installs
    prefix = Path(task(snapshot, "uses-package").outputs.parameters["prefix"])
    site = next((prefix / "lib").glob("python*/site-packages"))
    assert not list(site.glob("pyjokes*")), "an install went into the shared environment"
