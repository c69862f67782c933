"""A google.longrunning Operation as the store keeps it: what it is about and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sluice.domain.jsontypes import JsonObject


@dataclass(frozen=True)
class OperationRecord:
    """One long-running operation (delete, batchDelete, batchCancel of pipeline jobs)."""

    op_id: int  # the numeric last segment of the name
    parent: str  # projects/{p}/locations/{l}
    metadata_type: str  # @type of its metadata: type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata
    create_time: datetime
    update_time: datetime
    done: bool = False
    response: JsonObject | None = None  # an Any in JSON form, with its @type; set when done without error
    error: JsonObject | None = None  # a google.rpc.Status; set when done with an error
    job_id: str | None = None  # the one pipeline job it is about, for the pipelineJobs-scoped routes

    @property
    def name(self) -> str:
        """projects/{p}/locations/{l}/operations/{id}."""
        return f"{self.parent}/operations/{self.op_id}"
