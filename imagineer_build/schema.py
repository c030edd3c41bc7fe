"""JSON Schemas generated from the pydantic models, for editors (yaml-language-server)."""

from __future__ import annotations

from typing import Any

from .core.project import Settings
from .core.registry import load_kinds


def spec_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    props: dict[str, Any] = {}
    for section, kind in sorted(load_kinds().items()):
        sch = kind.Config.model_json_schema(ref_template="#/$defs/{model}", by_alias=True)
        defs.update(sch.pop("$defs", {}))
        name = kind.Config.__name__
        defs[name] = sch
        props[section] = {
            "type": "object",
            "description": f"{kind.name} targets, by name",
            "additionalProperties": {"$ref": f"#/$defs/{name}"},
            "propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "imagineer spec file (specs/*.yaml)",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "$defs": defs,
    }


def settings_schema() -> dict[str, Any]:
    sch = Settings.model_json_schema()
    sch["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    sch["title"] = "imagineer.yaml"
    return sch
