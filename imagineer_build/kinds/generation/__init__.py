"""The `generation` kind (placeholder: being written; replace this whole file)."""

from ...core.kind import Kind, KindConfig


class _Config(KindConfig):
    pass


class GenerationKind(Kind):
    name = "generation"
    section = "generations"
    Config = _Config

    def build(self, ctx):
        raise NotImplementedError("the generation kind is not written yet")
