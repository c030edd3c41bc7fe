"""Test aid: IMAGINEER_TEST_HIDE=mod1,mod2 makes those modules look uninstalled in this process
(importing or finding them raises ModuleNotFoundError), as for a user who skipped an extra."""

import os
import sys

_HIDDEN = {m for m in os.environ.get("IMAGINEER_TEST_HIDE", "").split(",") if m}


class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if _HIDDEN:
    sys.meta_path.insert(0, _Hide())
