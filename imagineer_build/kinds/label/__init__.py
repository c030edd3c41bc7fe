"""The `labels` kind (placeholder: being written; replace this whole file)."""

from ...core.kind import Kind, KindConfig


class _Config(KindConfig):
    pass


class LabelsKind(Kind):
    name = "labels"
    section = "labels"
    Config = _Config

    def build(self, ctx):
        raise NotImplementedError("the labels kind is not written yet")
