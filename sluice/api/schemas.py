"""The Vertex JSON shapes at the API edge (proto3 JSON: camelCase, snake_case accepted on input).

Input models forbid unknown fields, as Google's front end does ("Unknown name"), and drop the output-only
ones (a client may send back a job it read). Output models describe the responses in /openapi.json; the
routes build the JSON themselves (views.py) and these are not run on it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

# PipelineJob fields the server sets; ignored on input (Vertex: "Output only").
OUTPUT_ONLY = frozenset({
    "name", "createTime", "startTime", "endTime", "updateTime", "state", "jobDetail", "error",
    "templateMetadata", "scheduleName", "satisfiesPzs", "satisfiesPzi",
})
MAX_BATCH = 32  # Vertex: batchDelete / batchCancel take at most 32 names


def camel(name: str) -> str:
    """`create_time` → `createTime` (camelCase names pass unchanged), as protobuf's JSON names are formed."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def snake(name: str) -> str:
    """`createTime` → `create_time` (snake_case names pass unchanged)."""
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class Wire(BaseModel):
    """A proto3 JSON message: camelCase on the wire, snake_case accepted, unknown fields refused."""

    model_config = ConfigDict(alias_generator=camel, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, extra="forbid")


class ParameterValue(Wire):
    """RuntimeConfig.parameters value (deprecated Value{intValue, doubleValue, stringValue})."""

    int_value: int | str | None = None  # int64: a JSON string
    double_value: float | None = None
    string_value: str | None = None


class InputArtifact(Wire):
    """RuntimeConfig.inputArtifacts value."""

    artifact_id: str


class RuntimeConfig(Wire):
    """PipelineJob.RuntimeConfig."""

    parameters: dict[str, ParameterValue] | None = None
    gcs_output_directory: str | None = None
    parameter_values: dict[str, JsonValue] | None = None
    failure_policy: int | str | None = Field(None, description="PipelineFailurePolicy, by name or number")
    input_artifacts: dict[str, InputArtifact] | None = None


class EncryptionSpec(Wire):
    """Customer-managed key (recorded; Sluice does not encrypt with it)."""

    kms_key_name: str


class DnsPeeringConfig(Wire):
    """PscInterfaceConfig.dnsPeeringConfigs item."""

    domain: str
    target_project: str
    target_network: str | None = None


class PscInterfaceConfig(Wire):
    """Private Service Connect interface (recorded)."""

    network_attachment: str | None = None
    dns_peering_configs: list[DnsPeeringConfig] | None = None


class PipelineJobIn(Wire):
    """The body of CreatePipelineJob: the bare PipelineJob."""

    display_name: str | None = Field(None, description="up to 128 characters")
    pipeline_spec: dict[str, Any] | None = Field(None, description="the compiled pipeline (kfp IR), echoed back")
    labels: dict[str, str] | None = None
    runtime_config: RuntimeConfig | None = None
    encryption_spec: EncryptionSpec | None = None
    service_account: str | None = None
    network: str | None = None
    reserved_ip_ranges: list[str] | None = None
    psc_interface_config: PscInterfaceConfig | None = None
    template_uri: str | None = None
    preflight_validations: bool | None = None
    # v1beta1 only: a rerun of the job with that numeric id (its vertex-ai-pipelines-run-billing-id label)
    original_pipeline_job_id: int | str | None = Field(None, description="v1beta1: the job this one reruns")
    pipeline_task_rerun_configs: list[dict[str, Any]] | None = Field(None, description="v1beta1: per-task reruns")

    @model_validator(mode="before")
    @classmethod
    def _drop_output_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if camel(k) not in OUTPUT_ONLY}
        return data


class BatchNames(Wire):
    """BatchDeletePipelineJobsRequest / BatchCancelPipelineJobsRequest body."""

    names: list[str] = Field(description=f"full resource names under the parent, at most {MAX_BATCH}")


class WaitOperationRequest(Wire):
    """WaitOperation body."""

    timeout: str | None = Field(None, description='a Duration such as "5s"')


class Out(BaseModel):
    """A response message (documentation only)."""

    model_config = ConfigDict(alias_generator=camel, validate_by_name=True, serialize_by_alias=True)


class Status(Out):
    """google.rpc.Status."""

    code: int
    message: str = ""
    details: list[dict[str, Any]] | None = None


class ErrorStatus(Status):
    """The error of an HTTP error response: `code` is the HTTP status, `status` the google.rpc.Code name."""

    status: str


class ErrorResponse(Out):
    """Every non-2xx response."""

    error: ErrorStatus


class Context(Out):
    """An ML Metadata context of a job (pipelineContext, pipelineRunContext)."""

    name: str
    display_name: str | None = None
    schema_title: str | None = None


class Execution(Out):
    """The ML Metadata execution of a task."""

    name: str
    display_name: str | None = None
    state: str | int | None = Field(None, description="Execution.State")
    schema_title: str | None = None
    metadata: dict[str, Any] | None = None
    create_time: str | None = None


class TaskStatus(Out):
    """PipelineTaskDetail.PipelineTaskStatus."""

    update_time: str
    state: str | int
    error: Status | None = None


class PipelineTaskDetail(Out):
    """One task of jobDetail.taskDetails."""

    task_id: str = Field(description="int64 as a string")
    parent_task_id: str | None = None
    task_name: str
    task_unique_name: str | None = Field(None, description="v1beta1 only")
    create_time: str
    start_time: str | None = None
    end_time: str | None = None
    state: str | int
    execution: Execution | None = None
    executor_detail: dict[str, Any] | None = None
    error: Status | None = None
    pipeline_task_status: list[TaskStatus] | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None


class PipelineJobDetail(Out):
    """PipelineJob.jobDetail (left out of list responses)."""

    pipeline_context: Context | None = None
    pipeline_run_context: Context | None = None
    task_details: list[PipelineTaskDetail] | None = None


class TemplateMetadata(Out):
    """PipelineTemplateMetadata."""

    version: str | None = None


class PipelineJob(Out):
    """google.cloud.aiplatform.v1.PipelineJob as Sluice serves it."""

    name: str
    display_name: str | None = None
    create_time: str = Field(description="RFC 3339, UTC, Z")
    start_time: str | None = None
    end_time: str | None = None
    update_time: str
    pipeline_spec: dict[str, Any]
    state: str | int = Field(description="PipelineState: a name, or a number with $alt=json;enum-encoding=int")
    job_detail: PipelineJobDetail | None = None
    error: Status | None = None
    labels: dict[str, str]
    runtime_config: dict[str, Any]
    encryption_spec: dict[str, Any] | None = None
    service_account: str | None = None
    network: str | None = None
    reserved_ip_ranges: list[str] | None = None
    psc_interface_config: dict[str, Any] | None = None
    template_uri: str | None = None
    template_metadata: TemplateMetadata | None = None
    preflight_validations: bool | None = None
    original_pipeline_job_id: str | None = Field(None, description="v1beta1 only")
    pipeline_task_rerun_configs: list[dict[str, Any]] | None = Field(None, description="v1beta1 only")


class ListPipelineJobsResponse(Out):
    """ListPipelineJobs: one page; `nextPageToken` is absent on the last."""

    pipeline_jobs: list[PipelineJob] = []
    next_page_token: str | None = None


class Operation(Out):
    """google.longrunning.Operation; `metadata` and `response` are Any messages with their `@type`."""

    name: str
    metadata: dict[str, Any] | None = None
    done: bool | None = None
    response: dict[str, Any] | None = None
    error: Status | None = None


class ListOperationsResponse(Out):
    """ListOperations: one page, newest first."""

    operations: list[Operation] = []
    next_page_token: str | None = None


class Empty(Out):
    """google.protobuf.Empty: `{}`."""
