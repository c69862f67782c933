"""The JobRunner: drives unfinished jobs; refuses a second runner on one SQLite file."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.config import Settings
from sluice.errors import FailedPrecondition
from sluice.runtime.assembly import Runtime, open_runtime
from sluice.runtime.runner import JobRunner


@pytest.fixture
def two(tmp_path: Path, envs_dir: Path) -> Iterator[tuple[Runtime, Runtime]]:
    settings = Settings(root=tmp_path / "root", envs_dir=envs_dir)
    first, second = open_runtime(settings), open_runtime(settings)
    yield first, second
    first.close()
    second.close()


def test_a_second_runner_on_one_sqlite_file_is_refused(two: tuple[Runtime, Runtime]) -> None:
    first, second = two
    runner = JobRunner(first.store, first.orchestrator)
    runner.start()
    try:
        with pytest.raises(FailedPrecondition, match="PostgreSQL"):
            JobRunner(second.store, second.orchestrator).start()
    finally:
        runner.stop()
    again = JobRunner(second.store, second.orchestrator)  # the first one stopped: the file is free
    again.start()
    again.stop()
