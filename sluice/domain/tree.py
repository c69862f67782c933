"""A job's task rows, indexed so that planning after an event costs what the event touched, not the job size."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sluice.domain.records import GROUP_KINDS, TaskRecord
from sluice.domain.states import TaskState


@dataclass
class Tree:
    """Task rows by id and by parent, with the counts and queues the planner asks about.

    Invariant: every index reflects exactly the rows in `by_id`; `put` is the only writer.
    """

    by_id: dict[int, TaskRecord] = field(default_factory=dict)
    children: dict[int, dict[str, TaskRecord]] = field(default_factory=lambda: defaultdict(dict))
    # per parent: how many children are in each state
    counts: dict[int, Counter[TaskState]] = field(default_factory=lambda: defaultdict(Counter))
    # PENDING children per parent, in creation order (a loop's iterations waiting for their turn)
    pending_children: dict[int, dict[int, None]] = field(default_factory=lambda: defaultdict(dict))
    # leaves waiting for a slot, in creation order; leaves running
    pending_leaves: dict[int, None] = field(default_factory=dict)
    running_leaves: set[int] = field(default_factory=set)
    failed_leaves: int = 0
    root_id: int | None = None

    @staticmethod
    def of(tasks: Iterable[TaskRecord]) -> Tree:
        """A tree of `tasks`."""
        tree = Tree()
        for task in sorted(tasks, key=lambda t: t.seq):
            tree.put(task)
        return tree

    def put(self, task: TaskRecord) -> None:
        """Add `task`, or replace the row with the same id."""
        old = self.by_id.get(task.task_id)
        if old is not None:
            self._unindex(old)
        self.by_id[task.task_id] = task
        self._index(task)

    def group_ids(self) -> list[int]:
        """Every group task (DAG, loop, iteration), in creation order."""
        return [t.task_id for t in sorted(self.by_id.values(), key=lambda t: t.seq) if t.kind in GROUP_KINDS]

    def all_children_ended(self, parent_id: int) -> bool:
        """True when every existing child of `parent_id` is in a terminal state."""
        counts = self.counts.get(parent_id)
        if not counts:
            return True
        return all(state.terminal for state, n in counts.items() if n)

    def _index(self, task: TaskRecord) -> None:
        leaf = task.kind not in GROUP_KINDS
        if task.parent_id is None:
            self.root_id = task.task_id
        else:
            self.children[task.parent_id][task.key] = task
            self.counts[task.parent_id][task.state] += 1
            if task.state is TaskState.PENDING:
                self.pending_children[task.parent_id][task.task_id] = None
        if leaf and task.state is TaskState.PENDING:
            self.pending_leaves[task.task_id] = None
        if leaf and task.state is TaskState.RUNNING:
            self.running_leaves.add(task.task_id)
        if leaf and task.state is TaskState.FAILED:
            self.failed_leaves += 1

    def _unindex(self, task: TaskRecord) -> None:
        if task.parent_id is not None:
            self.counts[task.parent_id][task.state] -= 1
            self.pending_children[task.parent_id].pop(task.task_id, None)
        self.pending_leaves.pop(task.task_id, None)
        self.running_leaves.discard(task.task_id)
        if task.kind not in GROUP_KINDS and task.state is TaskState.FAILED:
            self.failed_leaves -= 1
