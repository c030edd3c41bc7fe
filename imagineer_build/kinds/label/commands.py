"""CLI commands of this kind (placeholder: none yet)."""


def register(app) -> None:
    pass
