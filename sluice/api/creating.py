"""A CreatePipelineJob body turned into a Submission (what runs) and the API-only fields (what is echoed back)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sluice.api.schemas import PipelineJobIn, snake
from sluice.api.views import Version
from sluice.domain.jsontypes import JsonObject
from sluice.domain.rerun import RerunRequest, parse_rerun
from sluice.domain.spec import parse_spec
from sluice.domain.submission import Submission
from sluice.errors import InvalidArgument

# Formats the PipelineJob proto documents for these fields.
_NETWORK = re.compile(r"^projects/[^/]+/global/networks/[^/]+$")
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
_SERVICE_ACCOUNT = re.compile(r"^[^@\s]+@[^@\s]+$")
# An Artifact Registry template (`https://{region}-kfp.pkg.dev/{project}/{repo}/{package}/{version or tag}`):
# Vertex fills templateMetadata.version from it.
_REGISTRY_TEMPLATE = re.compile(r"^https://[\w-]+-kfp\.pkg\.dev/[\w-]+/[\w-]+/[\w-]+/([\w.:-]+)$")
_RECORDED = ("encryptionSpec", "serviceAccount", "network", "reservedIpRanges", "pscInterfaceConfig",
             "preflightValidations")


@dataclass(frozen=True)
class Creation:
    """What a create request asks for."""

    submission: Submission
    extra: JsonObject  # API-only fields, camelCase, rendered back as given
    template_uri: str = ""
    template_version: str = ""


def _check(pattern: re.Pattern[str], value: str | None, field: str, shape: str) -> None:
    if value and not pattern.match(value):
        raise InvalidArgument(f"{value!r} is not of the form {shape}", field)


def _check_recorded(body: PipelineJobIn) -> None:
    _check(_NETWORK, body.network, "network", "projects/{project}/global/networks/{network}")
    _check(_SERVICE_ACCOUNT, body.service_account, "serviceAccount", "an email address")
    if body.encryption_spec is not None:
        _check(_KMS_KEY, body.encryption_spec.kms_key_name, "encryptionSpec.kmsKeyName",
               "projects/{p}/locations/{l}/keyRings/{ring}/cryptoKeys/{key}")
    for index, ip_range in enumerate(body.reserved_ip_ranges or []):
        if not ip_range:
            raise InvalidArgument("must be the name of a reserved range", f"reservedIpRanges[{index}]")


def _rerun(body: PipelineJobIn, version: Version) -> RerunRequest | None:
    fields = {"originalPipelineJobId": body.original_pipeline_job_id,
              "pipelineTaskRerunConfigs": body.pipeline_task_rerun_configs}
    if version is Version.V1:  # reruns are a v1beta1 feature; v1's PipelineJob has no such fields
        for name, value in fields.items():
            if value is not None:
                raise InvalidArgument(f"unknown field {name!r} (reruns are served under /v1beta1)", name)
        return None
    return parse_rerun({k: v for k, v in fields.items() if v is not None})


def creation(body: PipelineJobIn, job_id: str | None, version: Version) -> Creation:
    """Validate the body (InvalidArgument names the field) and split it into what runs and what is recorded."""
    if body.pipeline_spec is None:
        raise InvalidArgument("is required: the compiled pipeline (Sluice does not download templateUri)",
                              "pipelineSpec")
    spec = parse_spec(body.pipeline_spec)
    _check_recorded(body)
    extra: JsonObject = body.model_dump(by_alias=True, exclude_none=True, include={snake(n) for n in _RECORDED})
    config: JsonObject = body.runtime_config.model_dump(by_alias=True, exclude_none=True) \
        if body.runtime_config is not None else {}
    submission = Submission(spec=spec, runtime_config=config, job_id=job_id, display_name=body.display_name,
                            labels=body.labels or {}, rerun=_rerun(body, version))
    uri = body.template_uri or ""
    found = _REGISTRY_TEMPLATE.match(uri)
    return Creation(submission, extra, uri, found.group(1) if found else "")
