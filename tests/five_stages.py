"""A pipeline that fails at step 3 of 5 unless told otherwise: the rerun tests of the CLI and the SDK use it."""

from kfp import dsl


@dsl.component(base_image="python:3.11")
def stage(x: int, ok: bool = True) -> int:
    if not ok:
        raise ValueError(f"stage failed at {x}")
    return x + 1


@dsl.pipeline(name="five-stages")
def five_stages(ok3: bool = False) -> int:
    s1 = stage(x=0).set_display_name("s1")
    s2 = stage(x=s1.output).set_display_name("s2")
    s3 = stage(x=s2.output, ok=ok3).set_display_name("s3")
    s4 = stage(x=s3.output).set_display_name("s4")
    return stage(x=s4.output).set_display_name("s5").output
