"""The tables (SQLAlchemy Core). Alembic migrations in migrations/ create and evolve them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

pipeline_jobs = Table(
    "pipeline_jobs",
    metadata,
    Column("job_id", String(128), primary_key=True),
    Column("numeric_id", BigInteger, nullable=False, unique=True),
    Column("parent", String(512), nullable=False, index=True),  # projects/{p}/locations/{l}
    Column("uuid", String(36), nullable=False),
    Column("display_name", String(512), nullable=False, index=True),
    Column("pipeline_name", String(512), nullable=False, index=True),
    Column("template_uri", String(2048), nullable=False, default="", index=True),
    Column("state", String(40), nullable=False, index=True),
    Column("create_time", DateTime(timezone=True), nullable=False, index=True),
    Column("update_time", DateTime(timezone=True), nullable=False, index=True),
    Column("start_time", DateTime(timezone=True)),
    Column("end_time", DateTime(timezone=True), index=True),
    Column("spec", JSON, nullable=False),
    Column("runtime_config", JSON, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("output_dir", Text, nullable=False),
    Column("error", JSON),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("fail_fast", Boolean, nullable=False, default=False),
    # The orchestrator driving the job holds a lease; another may take the job over once it expires.
    Column("rerun", JSON),  # originalPipelineJobId and pipelineTaskRerunConfigs of a rerun
    Column("owner", String(256)),
    Column("lease_expires", DateTime(timezone=True), index=True),
    # API-only PipelineJob fields (serviceAccount, network, encryptionSpec, ...), echoed back; camelCase JSON.
    Column("extra", JSON),
    Column("template_version", String(256), nullable=False, default="", server_default=""),
    # Keyset pages of a parent in the default order (create_time desc, job_id desc) and by update_time.
    Index("ix_pipeline_jobs_parent_create", "parent", "create_time", "job_id"),
    Index("ix_pipeline_jobs_parent_update", "parent", "update_time", "job_id"),
)

labels = Table(
    "labels",
    metadata,
    Column("job_id", String(128), ForeignKey("pipeline_jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(63), primary_key=True),
    Column("value", String(63), nullable=False),
    Index("ix_labels_key_value", "key", "value"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("job_id", String(128), ForeignKey("pipeline_jobs.job_id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("parent_id", BigInteger),
    Column("key", String(512), nullable=False),
    Column("name", String(512), nullable=False),
    Column("component", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("start_time", DateTime(timezone=True)),
    Column("end_time", DateTime(timezone=True)),
    Column("attempt", Integer, nullable=False, default=0),
    Column("inputs", JSON, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("error", JSON),
    Column("detail", JSON, nullable=False),
    Column("process", String(256)),  # the executor's id of the current attempt's process (host and pid)
    Index("ix_tasks_job_seq", "job_id", "seq"),
)

task_status_history = Table(
    "task_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, ForeignKey("tasks.task_id", ondelete="CASCADE"), nullable=False,
           index=True),  # reading back the rows one apply() touched must not scan the job's whole history
    Column("job_id", String(128), ForeignKey("pipeline_jobs.job_id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Column("state", String(24), nullable=False),
    Column("error", JSON),
)

operations = Table(
    "operations",
    metadata,
    Column("op_id", BigInteger, primary_key=True, autoincrement=False),
    Column("parent", String(512), nullable=False),
    Column("job_id", String(128), index=True),  # no foreign key: a delete operation outlives its job
    Column("metadata_type", String(256), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("response", JSON),
    Column("error", JSON),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    Index("ix_operations_parent_create", "parent", "create_time", "op_id"),
)

cache_entries = Table(
    "cache_entries",
    metadata,
    # the newest SUCCEEDED execution per (pipeline, key); no foreign key: a cached result outlives its job
    Column("pipeline_name", String(512), primary_key=True),
    Column("cache_key", String(64), primary_key=True),
    Column("job_id", String(128), nullable=False),
    Column("job_name", String(1024), nullable=False),
    Column("task_id", BigInteger, nullable=False),
    Column("task_name", String(512), nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, index=True),
)
