"""CloudFormation's replacement rules, read at start-up from the resource
schemas cfn-lint bundles (``createOnlyProperties`` -> Always,
``conditionalCreateOnlyProperties`` -> Conditionally, everything else ->
Never; the schema's ``tagging.tagProperty`` names the Tags-scoped property).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

PROVIDER_REGION = "us-east-1"


class Rules:
    def __init__(self, always: set[str], conditional: set[str], tags: set[str]):
        self.always = always
        self.conditional = conditional
        self.tags = tags

    def recreation(self, prop: str) -> str:
        if prop in self.always:
            return "Always"
        if prop in self.conditional:
            return "Conditionally"
        return "Never"

    def attribute(self, prop: str) -> str:
        return "Tags" if prop in self.tags else "Properties"


def schema_dir() -> Path:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cfn-lint is not installed: its resource schemas give the replacement rules")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "schemas"


@functools.lru_cache(maxsize=1)
def _provider() -> dict[str, str]:
    with open(schema_dir() / "providers" / f"{PROVIDER_REGION}.json", encoding="utf-8") as fh:
        return json.load(fh)


def _top(pointer: str) -> str | None:
    parts = pointer.split("/")
    if len(parts) >= 3 and parts[1] == "properties":
        return parts[2]
    return None


@functools.lru_cache(maxsize=None)
def rules_for(resource_type: str) -> Rules:
    schema_hash = _provider().get(resource_type)
    if schema_hash is None:
        return Rules(set(), set(), {"Tags"})
    with open(schema_dir() / "resources" / f"{schema_hash}.json", encoding="utf-8") as fh:
        schema = json.load(fh)
    always = {p for p in map(_top, schema.get("createOnlyProperties", [])) if p}
    conditional = {p for p in map(_top, schema.get("conditionalCreateOnlyProperties", [])) if p}
    tagging = schema.get("tagging") or {}
    tag_prop = _top(tagging.get("tagProperty", "/properties/Tags")) or "Tags"
    return Rules(always, conditional - always, {tag_prop})
