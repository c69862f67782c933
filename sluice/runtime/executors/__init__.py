"""Where a task's process runs."""
