"""The `dataset` kind (placeholder: being written; replace this whole file)."""

from ...core.kind import Kind, KindConfig


class _Config(KindConfig):
    pass


class DatasetKind(Kind):
    name = "dataset"
    section = "datasets"
    Config = _Config

    def build(self, ctx):
        raise NotImplementedError("the dataset kind is not written yet")
