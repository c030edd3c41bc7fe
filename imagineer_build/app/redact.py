"""No secret reaches a page: values of secret-looking environment variables (API keys, tokens)
are cut out of every HTML page, JSON answer and build event the app sends, and secret-looking
keys of spec configs are shown as [redacted]. The pages never read the environment anyway;
this is the net under that rule (a library's error message might quote a key)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION", re.I)  # environment names
SECRET_FIELD = re.compile(r"api_?key|secret|passw|credential|auth|cookie|^token$|_token$|^headers$", re.I)  # config keys
MIN_LEN = 8  # shorter values are too likely to be ordinary words
REDACTED = "[redacted]"


class Redactor:
    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        self.values = sorted({v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_LEN},
                             key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self.values:
            if v in text:
                text = text.replace(v, REDACTED)
        return text


def redact_config(value: Any) -> Any:
    """A config with the values of secret-looking keys replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and SECRET_FIELD.search(k) and v not in (None, "") else redact_config(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_config(v) for v in value]
    return value
