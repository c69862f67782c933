"""The example pipeline of the README: parameters, a Dataset artifact, Metrics, a container step.

Compile it again with:  python examples/hello_pipeline.py   (needs `pip install kfp==2.17.3`)
"""

from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Metrics, Output


@dsl.component(base_image="python:3.11")
def make_numbers(count: int, numbers: Output[Dataset]) -> int:
    """Writes 1..count, one per line, and returns how many it wrote."""
    with open(numbers.path, "w") as f:
        f.write("\n".join(str(i) for i in range(1, count + 1)))
    numbers.metadata["rows"] = count
    return count


@dsl.component(base_image="python:3.11")
def summarise(numbers: Input[Dataset], scale: float, metrics: Output[Metrics]) -> float:
    """Sums the numbers, scaled, and logs the total as a metric."""
    with open(numbers.path) as f:
        total = sum(int(line) for line in f) * scale
    metrics.log_metric("total", total)
    return total


@dsl.container_component
def announce(message: str, total: float):
    """A plain container step: its command runs as given, with the values as argv elements."""
    return dsl.ContainerSpec(image="alpine:3.20", command=["echo"], args=[message, "total =", total])


@dsl.pipeline(name="hello-sluice", description="Counts, sums and announces.")
def hello_pipeline(count: int = 10, scale: float = 1.0, message: str = "hello from sluice") -> float:
    numbers = make_numbers(count=count)
    summary = summarise(numbers=numbers.outputs["numbers"], scale=scale)
    announce(message=message, total=summary.outputs["Output"])
    return summary.outputs["Output"]


if __name__ == "__main__":
    compiler.Compiler().compile(hello_pipeline, str(Path(__file__).with_suffix(".yaml")))
