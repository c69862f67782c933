"""The I/O side of running a job: orchestration, task launching, environments and executors."""
