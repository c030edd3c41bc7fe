"""Extra CLI commands that belong to a kind (e.g. `imagineer add` for sources).

They are found like kinds, through entry points: the group `imagineer_build.commands` maps a
name to a `register(app)` function, so a third-party kind can bring its commands too. A
register module must import nothing heavy at module level.
"""

from __future__ import annotations

GROUP = "imagineer_build.commands"


def register_commands(app) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        ep.load()(app)
