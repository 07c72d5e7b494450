"""Shared helpers of the extension's CloudFormation resource types."""

from __future__ import annotations

from typing import Any

from . import faults


class ResourceFailed(Exception):
    """A resource could not be created, updated or deleted; the stack rolls back."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_failure(account: str, resource_type: str, action: str, *names: str | None) -> None:
    reason = faults.RESOURCE_FAILURES.check(account, resource_type, action, [n for n in names if n])
    if reason:
        raise ResourceFailed(reason)


def props(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    return cloudformation_json.get("Properties") or {}


def tag_dict(tags: Any) -> dict[str, str]:
    """CloudFormation tags come as a map (Backup) or a Key/Value list."""
    if not tags:
        return {}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t["Value"]) for t in tags}


def as_int(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
