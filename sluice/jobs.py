"""Submitting a job: choosing its id and output directory and storing it. Used by the CLI and the API."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import datetime

from sluice.config import Settings
from sluice.domain.records import JobRecord, parent_name
from sluice.domain.rerun import RerunRequest, plan_rerun
from sluice.domain.submission import Submission, generated_job_id, prepare_job
from sluice.errors import AlreadyExists, InvalidArgument, NotFound
from sluice.runtime.artifacts import normalise_uri
from sluice.store.store import ApiFields, Store


def parent_of(settings: Settings) -> str:
    """`projects/{project}/locations/{location}` of this Sluice."""
    return parent_name(settings.project, settings.location)


def check_rerun(store: Store, request: RerunRequest) -> None:
    """The original job exists and every rerun config names one of its tasks (InvalidArgument otherwise)."""
    try:
        original = store.snapshot_by_numeric_id(request.original_numeric_id)
    except NotFound:
        raise InvalidArgument(f"no pipeline job has the id {request.original_numeric_id} (the "
                              "vertex-ai-pipelines-run-billing-id label of the job to rerun)",
                              "originalPipelineJobId") from None
    plan_rerun(request, original)


def submit(store: Store, settings: Settings, sub: Submission, now: datetime, parent: str | None = None,
           extra: ApiFields | None = None) -> JobRecord:
    """Validate and store a new QUEUED job (with its API-only fields, in the same transaction);
    InvalidArgument / AlreadyExists before anything is stored."""
    parent = parent or parent_of(settings)
    default_output = str(settings.root / "artifacts")
    if sub.rerun is not None:
        check_rerun(store, sub.rerun)
    for attempt in range(5):
        job_id = sub.job_id or generated_job_id(sub.spec.name, now)
        if sub.job_id is None and attempt:
            job_id = f"{job_id[:122]}-{secrets.token_hex(2)}"
        job = prepare_job(sub, parent, job_id, now, secrets.randbits(63) or 1, str(uuid.uuid4()), default_output)
        job = replace(job, output_dir=normalise_uri(job.output_dir).rstrip("/"))
        try:
            return store.create_job(job, extra)
        except AlreadyExists:
            if sub.job_id is not None:
                raise
    raise AlreadyExists("could not generate a free job id; pass one explicitly", "pipelineJobId")
