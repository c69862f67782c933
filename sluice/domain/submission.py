"""A submitted job checked and turned into a JobRecord: ids, names, labels, runtime config, parameters."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sluice.domain.ir import PipelineSpecView
from sluice.domain.jsontypes import Json, JsonObject
from sluice.domain.records import JobRecord
from sluice.domain.rerun import RerunRequest
from sluice.domain.states import PipelineState
from sluice.domain.values import bind_inputs
from sluice.errors import InvalidArgument

JOB_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
BILLING_LABEL = "vertex-ai-pipelines-run-billing-id"
MAX_LABELS = 64
MAX_DISPLAY_NAME = 128
_FAIL_FAST = ("PIPELINE_FAILURE_POLICY_FAIL_FAST", 2)
_POLICIES = ("PIPELINE_FAILURE_POLICY_UNSPECIFIED", "PIPELINE_FAILURE_POLICY_FAIL_SLOW", *_FAIL_FAST, 0, 1)


@dataclass(frozen=True)
class Submission:
    """What a client asks to run."""

    spec: PipelineSpecView
    runtime_config: JsonObject = field(default_factory=dict)  # Vertex runtimeConfig, camelCase
    job_id: str | None = None
    display_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    output_dir: str | None = None  # explicit (CLI --output-dir); wins over runtimeConfig and the spec
    rerun: RerunRequest | None = None


def generated_job_id(pipeline_name: str, now: datetime) -> str:
    """Vertex's shape `{pipeline-name}-{YYYYmmddHHMMSS}`: lower-cased, other characters as `-`."""
    stem = re.sub(r"[^-0-9a-z]", "-", pipeline_name.lower()).strip("-") or "pipeline"
    if not stem[0].isalpha():
        stem = f"p-{stem}"
    return f"{stem[:113]}-{now.strftime('%Y%m%d%H%M%S')}"


def check_job_id(job_id: str) -> str:
    """The id if it matches `^[a-z][-a-z0-9]{0,127}$`, else InvalidArgument."""
    if not JOB_ID.match(job_id):
        raise InvalidArgument(
            f"{job_id!r} is not a valid job id: use 1-128 characters of a-z, 0-9 and '-', starting with a letter",
            "pipelineJobId",
        )
    return job_id


def _label_chars_ok(text: str, first: bool) -> bool:
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category in ("Ll", "Lo"):
            continue
        if index == 0 and first:
            return False
        if not (category.startswith("N") or char in "_-"):
            return False
    return True


def check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Vertex's label rules: ≤ 64 labels, keys 1-63 and values 0-63 lowercase/international chars, digits, _ -."""
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"at most {MAX_LABELS} labels are allowed, got {len(labels)}", "labels")
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidArgument("label keys and values must be strings", f"labels.{key}")
        if not 1 <= len(key) <= 63 or not _label_chars_ok(key, first=True):
            raise InvalidArgument(
                f"invalid label key {key!r}: 1-63 lowercase letters, digits, '_' or '-', starting with a letter",
                f"labels.{key}",
            )
        if len(value) > 63 or not _label_chars_ok(value, first=False):
            raise InvalidArgument(
                f"invalid label value {value!r}: up to 63 lowercase letters, digits, '_' or '-'", f"labels.{key}"
            )
    return dict(labels)


def _given_parameters(config: JsonObject) -> dict[str, Json]:
    values = config.get("parameterValues", config.get("parameter_values")) or {}
    if not isinstance(values, dict):
        raise InvalidArgument("must be an object of parameter values", "runtimeConfig.parameterValues")
    legacy = config.get("parameters") or {}
    if not isinstance(legacy, dict):
        raise InvalidArgument("must be an object", "runtimeConfig.parameters")
    given: dict[str, Json] = {}
    for name, value in legacy.items():  # deprecated Value{intValue, doubleValue, stringValue}
        if not isinstance(value, dict) or len(value) != 1:
            raise InvalidArgument("expected one of intValue, doubleValue, stringValue",
                                  f"runtimeConfig.parameters.{name}")
        ((kind, raw),) = value.items()
        given[name] = int(str(raw)) if kind in ("intValue", "int_value") else raw
    given.update(values)
    return given


def _fail_fast(config: JsonObject) -> bool:
    policy = config.get("failurePolicy", config.get("failure_policy", 0))
    if policy not in _POLICIES:
        raise InvalidArgument(f"unknown failure policy {policy!r}", "runtimeConfig.failurePolicy")
    return policy in _FAIL_FAST


def prepare_job(
    sub: Submission, parent: str, job_id: str, now: datetime, numeric_id: int, uuid: str, default_output_dir: str,
) -> JobRecord:
    """The job to store, QUEUED; InvalidArgument for anything wrong, before anything is stored or run."""
    display_name = sub.display_name if sub.display_name is not None else sub.spec.name
    if len(display_name) > MAX_DISPLAY_NAME:
        raise InvalidArgument(f"at most {MAX_DISPLAY_NAME} characters, got {len(display_name)}", "displayName")
    labels = check_labels(sub.labels)
    labels[BILLING_LABEL] = str(numeric_id)  # Vertex: the server sets it, overriding any value sent
    config = dict(sub.runtime_config)
    parameters = bind_inputs(sub.spec.root.inputs, _given_parameters(config), "runtimeConfig.parameterValues")
    explicit = sub.output_dir or config.get("gcsOutputDirectory") or config.get("gcs_output_directory")
    output_dir = str(explicit or sub.spec.default_pipeline_root or default_output_dir)
    config["gcsOutputDirectory"] = output_dir
    return JobRecord(
        job_id=check_job_id(job_id),
        numeric_id=numeric_id,
        name=f"{parent}/pipelineJobs/{job_id}",
        uuid=uuid,
        display_name=display_name,
        pipeline_name=sub.spec.name,
        state=PipelineState.QUEUED,
        create_time=now,
        update_time=now,
        spec=sub.spec.document,
        runtime_config=config,
        parameters=parameters,
        output_dir=output_dir.rstrip("/"),
        labels=labels,
        fail_fast=_fail_fast(config),
        rerun=sub.rerun.to_json() if sub.rerun else None,
    )
