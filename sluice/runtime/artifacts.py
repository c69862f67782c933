"""Artifact storage: local paths as they are, gs:// s3:// and other fsspec URLs staged to local paths.

A task always sees local paths (KFP's `/gcs/` convention, without a FUSE mount): remote inputs are
downloaded into the attempt's directory before it runs, remote outputs uploaded after it succeeds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import fsspec

from sluice.domain.records import Artifact, ArtifactMap


def normalise_uri(uri: str) -> str:
    """`file:///x` and plain paths become absolute local paths; other URLs stay as they are."""
    if uri.startswith("file://"):
        return urlparse(uri).path
    if is_local(uri):
        return str(Path(uri).expanduser().absolute())
    return uri


def is_local(uri: str) -> bool:
    """True for a plain path or a file:// URL."""
    return "://" not in uri or uri.startswith("file://")


# kfp writes no file for these; their content is the metadata
_METADATA_ONLY = frozenset({"system.Metrics", "system.ClassificationMetrics", "system.SlicedClassificationMetrics"})


def still_there(artifacts: ArtifactMap) -> bool:
    """True when every artifact's file or directory still exists (a cache hit needs its outputs)."""
    for arts in artifacts.values():
        for art in arts:
            if art.schema_title in _METADATA_ONLY:
                continue
            if is_local(art.uri):
                if not Path(normalise_uri(art.uri)).exists():
                    return False
                continue
            fs, path = fsspec.core.url_to_fs(art.uri)
            if not fs.exists(path):
                return False
    return True


class Staging:
    """Moves one attempt's artifacts between remote storage and its working directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def inputs(self, artifacts: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        """Input artifacts with remote ones downloaded; their URIs point at the local copies."""
        result: dict[str, list[Artifact]] = {}
        for name, arts in artifacts.items():
            result[name] = []
            for index, art in enumerate(arts):
                if is_local(art.uri):
                    result[name].append(art)
                    continue
                local = self.workdir / "inputs" / name / str(index)
                fs, path = fsspec.core.url_to_fs(art.uri)
                if fs.exists(path):
                    local.parent.mkdir(parents=True, exist_ok=True)
                    fs.get(path, str(local), recursive=fs.isdir(path))
                result[name].append(replace(art, uri=str(local)))
        return result

    def outputs(self, planned: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        """Output artifacts as the task writes them: local ones in place, remote ones in the workdir."""
        result: dict[str, list[Artifact]] = {}
        for key, arts in planned.items():
            result[key] = []
            for art in arts:
                local = art.uri if is_local(art.uri) else str(self.workdir / "outputs-artifacts" / key)
                Path(local).parent.mkdir(parents=True, exist_ok=True)
                result[key].append(replace(art, uri=local))
        return result

    def publish(self, written: ArtifactMap, planned: ArtifactMap) -> ArtifactMap:
        """Upload what the task wrote for remote outputs; the result carries the planned URIs."""
        result: dict[str, list[Artifact]] = {}
        for key, arts in written.items():
            targets = planned.get(key, arts)
            result[key] = []
            for art, target in zip(arts, targets, strict=False):
                if not is_local(target.uri) and Path(art.uri).exists():
                    fs, path = fsspec.core.url_to_fs(target.uri)
                    fs.put(art.uri, path, recursive=Path(art.uri).is_dir())
                result[key].append(replace(art, uri=target.uri))
        return result
