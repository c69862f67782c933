"""The ParallelFor of trivial container tasks that loop_scaling.py and server_memory.py run."""

from typing import Any

from kfp import dsl


@dsl.container_component
def noop(i: int):  # type: ignore[no-untyped-def]
    return dsl.ContainerSpec(image="alpine", command=["true"], args=[])


def loop_pipeline(parallelism: int, name: str) -> Any:
    """`items` → one `true` task per item, at most `parallelism` at a time."""

    @dsl.pipeline(name=name)
    def pipeline(items: list[int]) -> None:
        with dsl.ParallelFor(items, parallelism=parallelism) as i:
            noop(i=i)

    return pipeline
