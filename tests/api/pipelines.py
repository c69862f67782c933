"""Fixture pipelines for the API tests: tiny stdlib-only components, compiled at test time by the real kfp."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE)
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image=IMAGE)
def produce(n: int, data: Output[Dataset]) -> str:
    with open(data.path, "w") as f:
        f.write("x" * n)
    return "made"


@dsl.component(base_image=IMAGE)
def measure(data: Input[Dataset]) -> int:
    with open(data.path) as f:
        return len(f.read())


@dsl.component(base_image=IMAGE)
def explode(why: str) -> None:
    raise RuntimeError(why)


@dsl.component(base_image=IMAGE)
def snooze(seconds: float) -> None:
    import time

    time.sleep(seconds)


@dsl.pipeline(name="adder")
def adder(a: int = 1, b: int = 2) -> int:
    return add(a=a, b=b).output


@dsl.pipeline(name="chain")
def chain(n: int = 3) -> int:
    made = produce(n=n)
    return measure(data=made.outputs["data"]).output


@dsl.pipeline(name="failing")
def failing(why: str = "boom") -> None:
    explode(why=why)


@dsl.pipeline(name="sleeper")
def sleeper(seconds: float = 120.0) -> None:
    snooze(seconds=seconds)


ALL = (adder, chain, failing, sleeper)
