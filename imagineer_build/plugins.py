"""Extra CLI commands that belong to a kind (e.g. `imagineer add` for sources).

Each module listed here has `register(app)`; it must import nothing heavy at module level.
"""

from __future__ import annotations

import importlib

COMMAND_MODULES: tuple[str, ...] = (
    "imagineer_build.kinds.source.commands",  # imagineer add
    "imagineer_build.kinds.label.commands",  # imagineer labels export
)


def register_commands(app) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
