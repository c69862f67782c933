"""The typed view of a validated IR: what the planner and launcher read instead of raw protobuf."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from sluice.domain.jsontypes import Json, JsonObject


class ParamType(str, Enum):
    """ParameterType.ParameterTypeEnum, the declared type of a parameter."""

    STRING = "STRING"
    NUMBER_INTEGER = "NUMBER_INTEGER"
    NUMBER_DOUBLE = "NUMBER_DOUBLE"
    BOOLEAN = "BOOLEAN"
    LIST = "LIST"
    STRUCT = "STRUCT"
    TASK_FINAL_STATUS = "TASK_FINAL_STATUS"
    TASK_CONFIG = "TASK_CONFIG"


@dataclass(frozen=True)
class ParamDef:
    """A declared input or output parameter."""

    name: str
    type: ParamType
    optional: bool = False
    has_default: bool = False
    default: Json = None


@dataclass(frozen=True)
class ArtifactDef:
    """A declared input or output artifact."""

    name: str
    schema_title: str
    schema_version: str
    is_list: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Interface:
    """The parameters and artifacts on one side of a component."""

    parameters: Mapping[str, ParamDef] = field(default_factory=dict)
    artifacts: Mapping[str, ArtifactDef] = field(default_factory=dict)


@dataclass(frozen=True)
class ParamSource:
    """Where a task input parameter's value comes from; exactly one kind of source is set."""

    component_input: str | None = None
    producer: str | None = None
    output_key: str | None = None
    constant: Json = None
    is_constant: bool = False
    final_status_of: str | None = None
    selector: str | None = None


@dataclass(frozen=True)
class ArtifactSource:
    """Where a task input artifact comes from: the parent DAG's input or an upstream task's output."""

    component_input: str | None = None
    producer: str | None = None
    output_key: str | None = None


@dataclass(frozen=True)
class OutputSelector:
    """One producer of a DAG output (several mean OneOf)."""

    producer: str
    output_key: str


@dataclass(frozen=True)
class RetryPolicy:
    """retryPolicy of a task; durations in seconds."""

    max_retry_count: int
    backoff_seconds: float
    backoff_factor: float
    backoff_max_seconds: float


@dataclass(frozen=True)
class Iterator:
    """parameterIterator / artifactIterator of a ParallelFor task, with its iteratorPolicy."""

    item_input: str  # the loop DAG's input that receives one item per iteration
    raw_items: str | None = None  # items.raw: a JSON list as a string
    input_name: str | None = None  # items.inputParameter / items.inputArtifact: a loop DAG input
    over_artifacts: bool = False
    parallelism: int = 0  # 0: unlimited


@dataclass(frozen=True)
class TaskSpec:
    """One task of a DAG."""

    key: str
    name: str
    component: str
    dependent_tasks: tuple[str, ...]
    parameters: Mapping[str, ParamSource]
    artifacts: Mapping[str, ArtifactSource]
    enable_cache: bool
    cache_key: str
    retry: RetryPolicy | None
    condition: str
    all_upstream_completed: bool
    iterator: Iterator | None = None

    @functools.cached_property
    def data_upstream(self) -> frozenset[str]:
        """The sibling tasks whose outputs this task consumes."""
        return frozenset({s.producer for s in self.parameters.values() if s.producer}
                         | {s.producer for s in self.artifacts.values() if s.producer})

    @functools.cached_property
    def upstream(self) -> frozenset[str]:
        """Every sibling this task waits for: `.after()`, data, and the task an exit handler reports on."""
        finals = {s.final_status_of for s in self.parameters.values() if s.final_status_of}
        return frozenset(set(self.dependent_tasks) | self.data_upstream | finals)


@dataclass(frozen=True)
class Dag:
    """A DAG: its tasks by key and its outputs."""

    tasks: Mapping[str, TaskSpec]
    parameter_outputs: Mapping[str, tuple[OutputSelector, ...]]
    artifact_outputs: Mapping[str, tuple[OutputSelector, ...]]


@dataclass(frozen=True)
class ContainerExecutor:
    """deploymentSpec.executors.X.container."""

    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Mapping[str, str]
    resources: JsonObject


@dataclass(frozen=True)
class ImporterExecutor:
    """deploymentSpec.executors.X.importer: registers an artifact without running a process."""

    uri_constant: str | None
    uri_parameter: str | None
    schema_title: str
    schema_version: str
    metadata: JsonObject
    reimport: bool


Executor = ContainerExecutor | ImporterExecutor


@dataclass(frozen=True)
class Component:
    """A component: a leaf with an executor, or a DAG."""

    name: str
    inputs: Interface
    outputs: Interface
    executor: str | None = None
    dag: Dag | None = None


@dataclass(frozen=True)
class PipelineSpecView:
    """The whole validated pipeline."""

    name: str
    schema_version: str
    sdk_version: str
    default_pipeline_root: str
    root: Component
    components: Mapping[str, Component]
    executors: Mapping[str, Executor]
    document: JsonObject

    def component(self, name: str) -> Component:
        """The component `name` (validated to exist)."""
        return self.components[name]
