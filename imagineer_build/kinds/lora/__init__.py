"""The `lora` kind (placeholder: being written; replace this whole file)."""

from ...core.kind import Kind, KindConfig


class _Config(KindConfig):
    pass


class LoraKind(Kind):
    name = "lora"
    section = "loras"
    Config = _Config

    def build(self, ctx):
        raise NotImplementedError("the lora kind is not written yet")
