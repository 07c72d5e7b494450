"""Change-set details (Replacement, Scope, Details) computed with the real
replacement rules, AWS's ChangeSetType semantics, names unique per stack
(ClientToken retries answer the first change set), and the DescribeChangeSet
fields moto leaves out (PhysicalResourceId, PolicyAction, Tags)."""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Stack
from moto.cloudformation.responses import CloudFormationResponse, transform_dict
from moto.cloudformation.utils import (
    generate_changeset_id,
    generate_stack_id,
    validate_create_change_set,
)
from moto.core.exceptions import ServiceException

from .replacement import rules_for

NO_CHANGES = (
    "The submitted information didn't contain changes. "
    "Submit different information to create a change set."
)


class ChangeSetAlreadyExists(ServiceException):
    code = "AlreadyExistsException"


class ChangeSetNotFound(ServiceException):
    code = "ChangeSetNotFound"


class InvalidChangeSetStatus(ServiceException):
    code = "InvalidChangeSetStatus"


# ---------------------------------------------------------------------------
# References inside a resource's properties


def references(value: Any) -> list[tuple[str, str]]:
    """(kind, target) pairs: ("Ref", "X") and ("GetAtt", "X.Attr")."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.append(("Ref", inner))
            elif key == "Fn::GetAtt":
                target = inner if isinstance(inner, str) else ".".join(map(str, inner))
                found.append(("GetAtt", target))
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    found.append(("GetAtt" if "." in name else "Ref", name))
                if not isinstance(inner, str) and len(inner) > 1:
                    found.extend(references(inner[1]))
            else:
                found.extend(references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(references(inner))
    return found


def _target(prop: str, rules: Any, old: dict, new: dict) -> dict[str, Any]:
    if prop not in old:
        change_type = "Add"
    elif prop not in new:
        change_type = "Remove"
    else:
        change_type = "Modify"
    target: dict[str, Any] = {
        "Attribute": rules.attribute(prop),
        "Name": prop,
        "RequiresRecreation": rules.recreation(prop),
        "Path": f"/Properties/{prop}",
        "AttributeChangeType": change_type,
    }
    if prop in old:
        target["BeforeValue"] = _text(old[prop])
    if prop in new:
        target["AfterValue"] = _text(new[prop])
    return target


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _replacement(details: list[dict[str, Any]]) -> str:
    static = [d for d in details if d["Evaluation"] == "Static"]
    if any(d["Target"]["RequiresRecreation"] == "Always" for d in static):
        return "True"
    if any(d["Target"]["RequiresRecreation"] != "Never" for d in details):
        return "Conditional"
    return "False"


def _scope(details: list[dict[str, Any]]) -> list[str]:
    return sorted({d["Target"]["Attribute"] for d in details})


def _normal(resource_json: dict[str, Any]) -> dict[str, Any]:
    """moto adds an empty Properties to the template it parsed: ignore that."""
    out = dict(resource_json)
    out.setdefault("Properties", {})
    return out


def annotate(change_set: ChangeSet) -> None:
    """Fill Replacement, Scope, Details, PhysicalResourceId and PolicyAction."""
    stack = change_set.stack
    old_resources = dict(stack.resource_map._resource_json_map) if stack.template_dict else {}
    new_resources = (change_set.template_dict or {}).get("Resources", {}) or {}
    change_set.changes = [
        c for c in change_set.changes
        if not (c.action == "Modify"
                and _normal(old_resources[c.logical_resource_id])
                == _normal(new_resources[c.logical_resource_id]))
    ]
    old_params = stack.resource_map.input_parameters or {}
    changed_params = {
        key for key, value in (change_set.parameters or {}).items() if old_params.get(key) != value
    }
    by_id = {c.logical_resource_id: c for c in change_set.changes}

    for change in change_set.changes:
        change.details = []
        logical = change.logical_resource_id
        parsed = stack.resource_map._parsed_resources.get(logical)
        if change.action in ("Modify", "Remove") and parsed is not None:
            change.physical_resource_id = getattr(parsed, "physical_resource_id", None)
        if change.action == "Remove":
            policy = old_resources.get(logical, {}).get("DeletionPolicy")
            change.policy_action = "Retain" if policy == "Retain" else "Delete"
        if change.action != "Modify":
            continue
        rules = rules_for(change.resource_type)
        old_props = old_resources[logical].get("Properties") or {}
        new_props = new_resources[logical].get("Properties") or {}
        for prop in sorted(set(old_props) | set(new_props)):
            if old_props.get(prop) != new_props.get(prop):
                change.details.append({
                    "Target": _target(prop, rules, old_props, new_props),
                    "Evaluation": "Static",
                    "ChangeSource": "DirectModification",
                })
            else:
                for kind, name in references(new_props.get(prop)):
                    if kind == "Ref" and name in changed_params:
                        change.details.append({
                            "Target": _target(prop, rules, old_props, new_props),
                            "Evaluation": "Static",
                            "ChangeSource": "ParameterReference",
                            "CausingEntity": name,
                        })
                        break

    # Resources that refer to a replaced resource change too (dynamically).
    replaced = {c.logical_resource_id for c in change_set.changes
                if c.action == "Modify" and _replacement(c.details) == "True"}
    for logical, resource_json in new_resources.items():
        if logical not in old_resources or logical in replaced:
            continue
        change = by_id.get(logical)
        if change is not None and change.action != "Modify":
            continue
        rules = rules_for(resource_json.get("Type", ""))
        props = resource_json.get("Properties") or {}
        old_props = old_resources[logical].get("Properties") or {}
        dynamic = []
        for prop, value in props.items():
            if change is not None and any(d["Target"]["Name"] == prop for d in change.details):
                continue
            for kind, name in references(value):
                base = name.split(".", 1)[0]
                if base in replaced:
                    dynamic.append({
                        "Target": _target(prop, rules, old_props, props),
                        "Evaluation": "Dynamic",
                        "ChangeSource": "ResourceReference" if kind == "Ref" else "ResourceAttribute",
                        "CausingEntity": name,
                    })
                    break
        if not dynamic:
            continue
        if change is None:
            change = cfn_models.Change("Modify", logical, resource_json["Type"])
            change.details = []
            parsed = stack.resource_map._parsed_resources.get(logical)
            change.physical_resource_id = getattr(parsed, "physical_resource_id", None)
            change_set.changes.append(change)
            by_id[logical] = change
        change.details.extend(dynamic)

    for change in change_set.changes:
        if change.action != "Modify":
            continue
        change.replacement = _replacement(change.details)
        change.scope = _scope(change.details)
        if change.replacement == "True":
            policy = new_resources[change.logical_resource_id].get("UpdateReplacePolicy")
            change.policy_action = "ReplaceAndRetain" if policy == "Retain" else "ReplaceAndDelete"


# ---------------------------------------------------------------------------
# CreateChangeSet with AWS's semantics


def _live_stack(backend: CloudFormationBackend, name_or_id: str) -> Stack | None:
    for stack in backend.stacks.values():
        if stack.name == name_or_id or stack.stack_id == name_or_id:
            return stack
    return None


def _named(backend: CloudFormationBackend, stack: Stack | None, name: str) -> ChangeSet | None:
    """The change set called `name` on `stack` (names are unique per stack)."""
    if stack is None:
        return None
    for change_set in backend.change_sets.values():
        if change_set.stack_id == stack.stack_id and change_set.change_set_name == name:
            return change_set
    return None


def create_change_set(self: CloudFormationBackend, stack_name: str, change_set_name: str,
                      template: str, parameters: dict[str, str], description: str,
                      change_set_type: str, notification_arns: list[str] | None = None,
                      tags: dict[str, str] | None = None,
                      role_arn: str | None = None,
                      client_token: str | None = None) -> tuple[str, str]:
    validate_create_change_set(change_set_name)
    stack = _live_stack(self, stack_name)
    existing = _named(self, stack, change_set_name)
    if existing is not None:
        # ClientToken: a retry of the request that made this change set
        # answers what that request answered, whatever the stack did since.
        if client_token and getattr(existing, "client_token", None) == client_token:
            return existing.change_set_id, existing.stack_id
    if change_set_type == "UPDATE":
        if stack is None:
            raise ValidationError(message=f"Stack [{stack_name}] does not exist")
        if stack.status == "REVIEW_IN_PROGRESS" or stack.status == "ROLLBACK_COMPLETE":
            raise ValidationError(
                message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated."
            )
    elif change_set_type == "CREATE":
        if stack is not None and stack.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(
                message=f"Stack [{stack_name}] already exists and cannot be created again "
                f"with the changeSet [{change_set_name}]."
            )
        if stack is None:
            stack = Stack(
                stack_id=generate_stack_id(stack_name, self.region_name, self.account_id),
                name=stack_name,
                template={},
                parameters=parameters,
                account_id=self.account_id,
                region_name=self.region_name,
                notification_arns=notification_arns,
                tags=tags,
                role_arn=role_arn,
            )
            self.stacks[stack.stack_id] = stack
            stack.status = "REVIEW_IN_PROGRESS"
            stack._add_stack_event("REVIEW_IN_PROGRESS", resource_status_reason="User Initiated")
    else:
        raise ValidationError(message=f"ChangeSetType {change_set_type} is not supported here")

    if _named(self, stack, change_set_name) is not None:
        raise ChangeSetAlreadyExists(f"ChangeSet [{change_set_name}] already exists")

    change_set = ChangeSet(
        change_set_type=change_set_type,
        change_set_id=generate_changeset_id(change_set_name, self.region_name, self.account_id),
        change_set_name=change_set_name,
        stack=stack,
        template=template,
        parameters=parameters,
        description=description,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
    )
    change_set.client_token = client_token
    annotate(change_set)
    unchanged = (
        change_set_type == "UPDATE"
        and not change_set.changes
        and _same_template(stack.template_dict, change_set.template_dict)
        and (stack.resource_map.input_parameters or {}) == (parameters or {})
        and (not tags or tags == stack.tags)
    )
    if unchanged:
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = NO_CHANGES
    else:
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
    self.change_sets[change_set.change_set_id] = change_set
    return change_set.change_set_id, stack.stack_id


def _same_template(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def normal(template: dict[str, Any]) -> dict[str, Any]:
        out = dict(template or {})
        out["Resources"] = {k: _normal(v) for k, v in (out.get("Resources") or {}).items()}
        return out

    return normal(old) == normal(new)


def create_change_set_response(self: CloudFormationResponse):
    """CreateChangeSet: ChangeSetType defaults to UPDATE, as on AWS."""
    from moto.core.responses import ActionResult

    stack_name = self._get_param("StackName")
    change_set_name = self._get_param("ChangeSetName")
    body = self._get_param("TemplateBody")
    template_url = self._get_param("TemplateURL")
    change_set_type = self._get_param("ChangeSetType") or "UPDATE"
    use_previous = self._get_bool_param("UsePreviousTemplate", False)
    stack = _live_stack(self.cloudformation_backend, stack_name)
    if use_previous:
        if stack is None:
            raise ValidationError(message=f"Stack [{stack_name}] does not exist")
        body = stack.template
    elif template_url:
        body = self._get_stack_from_s3_url(template_url)
    if not body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    parameters = {}
    for param in self._get_param("Parameters", []) or []:
        key = param["ParameterKey"]
        if param.get("UsePreviousValue"):
            if stack is None:
                raise ValidationError(message=f"Stack [{stack_name}] does not exist")
            parameters[key] = stack.resource_map.input_parameters.get(key)
        else:
            parameters[key] = param.get("ParameterValue")
    tags = {item["Key"]: item["Value"] for item in self._get_param("Tags", []) or []}
    change_set_id, stack_id = self.cloudformation_backend.create_change_set(
        stack_name=stack_name,
        change_set_name=change_set_name,
        template=body,
        parameters=parameters,
        description=self._get_param("Description"),
        notification_arns=self._get_param("NotificationARNs", []),
        tags=tags,
        role_arn=self._get_param("RoleARN"),
        change_set_type=change_set_type,
        client_token=self._get_param("ClientToken"),
    )
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


def tags_out(tags: dict[str, str] | None) -> list[dict[str, str]] | None:
    """DescribeChangeSet's Tags: moto keeps a dict and has no transformer for it."""
    return transform_dict(tags) if tags else None


def find_change_set(backend: CloudFormationBackend, name: str, stack_name: str | None) -> ChangeSet:
    if name in backend.change_sets:
        return backend.change_sets[name]
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == name and (
            not stack_name or stack_name in (change_set.stack_name, change_set.stack_id)
        ):
            return change_set
    raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")


def describe_change_set(self: CloudFormationBackend, change_set_name: str,
                        stack_name: str | None = None) -> ChangeSet:
    return find_change_set(self, change_set_name, stack_name)


def describe_change_set_response(self: CloudFormationResponse):
    from moto.core.responses import ActionResult

    change_set = find_change_set(
        self.cloudformation_backend, self._get_param("ChangeSetName"), self._get_param("StackName")
    )
    return ActionResult(change_set)


def delete_change_set_response(self: CloudFormationResponse):
    from moto.core.responses import EmptyResult

    backend = self.cloudformation_backend
    change_set = find_change_set(backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
    del backend.change_sets[change_set.change_set_id]
    return EmptyResult()


def list_change_sets_response(self: CloudFormationResponse):
    """ListChangeSets lists the change sets of the stack it names (moto
    returns the region's every change set)."""
    from moto.core.responses import ActionResult

    backend = self.cloudformation_backend
    stack = _live_stack(backend, self._get_param("StackName"))
    if stack is None:
        raise ValidationError(self._get_param("StackName"))
    return ActionResult({"Summaries": [cs for cs in backend.change_sets.values() if cs.stack_id == stack.stack_id]})
