"""Every path under a run's workdir, in one place.

    workdir/
      data/            shards, sequence tables, metadata.json (seqjax preprocess)
      checkpoints/     Orbax checkpoints (seqjax train)
      metrics.jsonl    training and validation metrics
      spec.json        the resolved spec (seqjax.load needs nothing else)
      export/          jax.export artifacts, weights, model.json
      predictions/     inference results
"""

from __future__ import annotations

import dataclasses
import pathlib


@dataclasses.dataclass(frozen=True)
class Workdir:
    root: pathlib.Path

    def __post_init__(self):
        object.__setattr__(self, "root", pathlib.Path(self.root))

    @property
    def data(self) -> pathlib.Path:
        return self.root / "data"

    @property
    def metadata_file(self) -> pathlib.Path:
        return self.data / "metadata.json"

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.root / "checkpoints"

    @property
    def metrics(self) -> pathlib.Path:
        return self.root / "metrics.jsonl"

    @property
    def spec_file(self) -> pathlib.Path:
        return self.root / "spec.json"

    @property
    def export(self) -> pathlib.Path:
        return self.root / "export"

    @property
    def predictions(self) -> pathlib.Path:
        return self.root / "predictions"

    def metadata(self):
        """The preprocessed data's Metadata; missing, damaged or other-version data is a MetadataError saying what to run."""
        from seqjax.data.metadata import Metadata

        return Metadata.read(self.data)
