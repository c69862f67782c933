"""The task environments' pip shim: pip's options mapped onto uv's, pip-only no-ops dropped."""

from sluice.runtime.pip_shim import translate


def test_kfp_prefix_translates() -> None:
    args = ["install", "--quiet", "--no-warn-script-location", "kfp==2.17.3", "--no-deps",
            'typing-extensions>=3.7.4,<5; python_version<"3.9"']
    assert translate(args) == ["install", "--quiet", "kfp==2.17.3", "--no-deps",
                               'typing-extensions>=3.7.4,<5; python_version<"3.9"']


def test_index_options_keep_their_meaning() -> None:
    args = ["install", "--index-url", "http://mirror/simple", "--trusted-host", "mirror", "--trusted-host=other",
            "--user", "pkg"]
    assert translate(args) == ["install", "--index-url", "http://mirror/simple", "--allow-insecure-host", "mirror",
                               "--allow-insecure-host=other", "pkg"]
