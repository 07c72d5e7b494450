"""Stack operations that end in a proper state: resource-level events,
roll-back on a failing resource (ROLLBACK_COMPLETE /
UPDATE_ROLLBACK_COMPLETE instead of an HTML 500), ExecuteChangeSet for both
change-set types, DeletionPolicy Retain on every removal path,
DELETE_FAILED instead of a crash, and a stack's exports published (and
withdrawn) whichever way it was created or updated."""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.parsing import OutputMap
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack, cloudformation_backends

from .cfn_common import ResourceFailed
from .changesets import InvalidChangeSetStatus, find_change_set


class StackResourceFailure(Exception):
    def __init__(self, logical_id: str, resource_type: str, reason: str, action: str):
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason
        self.action = action


def _stack_of(resources_map: Any) -> Stack | None:
    try:
        backend = cloudformation_backends[resources_map._account_id][resources_map._region_name]
    except Exception:
        return None
    return backend.stacks.get(resources_map.stack_id)


def resource_event(stack: Stack | None, logical_id: str, resource_type: str, status: str,
                   physical_id: str | None = None, reason: str | None = None) -> None:
    if stack is None:
        return
    event = Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id or "",
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    stack.events.append(event)


def _reason(err: Exception) -> str:
    if isinstance(err, ResourceFailed):
        return err.reason
    return str(getattr(err, "message", None) or err) or type(err).__name__


# ---------------------------------------------------------------------------
# Resource-level wrappers (installed over moto.cloudformation.parsing)

_original_create = parsing.parse_and_create_resource
_original_update_resource = parsing.parse_and_update_resource


def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
    stack = _stack_of(resources_map)
    resource_type = resource_json.get("Type", "")
    supported = parsing.resource_class_from_type(resource_type) is not None
    if supported:
        resource_event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
    try:
        resource = _original_create(logical_id, resource_json, resources_map, account_id, region_name)
    except StackResourceFailure:
        raise
    except Exception as err:
        reason = _reason(err)
        resource_event(stack, logical_id, resource_type, "CREATE_FAILED", reason=reason)
        raise StackResourceFailure(logical_id, resource_type, reason, "create") from err
    if resource is not None:
        resource_event(stack, logical_id, resource_type, "CREATE_COMPLETE",
                       physical_id=str(getattr(resource, "physical_resource_id", "") or ""))
    return resource


def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
    failed = resources_map.__dict__.setdefault("_drctl_failed", {})
    if logical_id in failed:  # moto retries failed updates; fail the same way
        raise failed[logical_id]
    stack = _stack_of(resources_map)
    resource_type = resource_json.get("Type", "")
    resource_event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS")
    try:
        resource = _original_update_resource(logical_id, resource_json, resources_map, account_id, region_name)
        if resource is None:
            # moto has no update for this type: keep the resource as it is.
            resource = resources_map._parsed_resources.get(logical_id)
    except StackResourceFailure as failure:
        failed[logical_id] = failure
        raise
    except Exception as err:
        reason = _reason(err)
        resource_event(stack, logical_id, resource_type, "UPDATE_FAILED", reason=reason)
        failure = StackResourceFailure(logical_id, resource_type, reason, "update")
        failed[logical_id] = failure
        raise failure from err
    resource_event(stack, logical_id, resource_type, "UPDATE_COMPLETE",
                   physical_id=str(getattr(resource, "physical_resource_id", "") or ""))
    return resource


_original_delete_resource = parsing.ResourceMap._delete_resource


def delete_resource(self, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
    """Removal (stack delete, or a resource gone from the template) keeps
    resources whose DeletionPolicy is Retain."""
    if resource_json.get("DeletionPolicy") == "Retain":
        return
    _original_delete_resource(self, parsed_resource, resource_json)


# ---------------------------------------------------------------------------
# Updates reach the resources that refer to a replaced one

_original_build_resource_diff = parsing.ResourceMap.build_resource_diff
_original_resource_map_update = parsing.ResourceMap.update


def build_resource_diff(self, other_template: dict[str, Any],
                        parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """During an update, a resource whose properties refer (Ref, GetAtt,
    Sub) to a resource being replaced is updated too, after it (moto
    updates only resources whose template text changed, so e.g. a bucket
    policy kept pointing at the old bucket). The change set shows these as
    Dynamic changes (changesets.annotate)."""
    diff = _original_build_resource_diff(self, other_template, parameters)
    if not self.__dict__.get("_drctl_updating"):
        return diff
    from .changesets import references
    from .replacement import rules_for

    old, new = self._resource_json_map, other_template.get("Resources") or {}
    replaced = set()
    for name in diff["Modify"]:
        old_props = old.get(name, {}).get("Properties") or {}
        new_props = new[name].get("Properties") or {}
        always = rules_for(new[name].get("Type", "")).always
        if any(old_props.get(p) != new_props.get(p) for p in always):
            replaced.add(name)
    for name, resource_json in new.items():
        if name not in old or name in diff["Modify"]:
            continue
        if any(target.split(".", 1)[0] in replaced
               for _, target in references(resource_json.get("Properties") or {})):
            diff["Modify"].append(name)
    return diff


def resource_map_update(self, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    self.__dict__["_drctl_updating"] = True
    try:
        _original_resource_map_update(self, template, parameters)
    finally:
        self.__dict__.pop("_drctl_updating", None)


# ---------------------------------------------------------------------------
# Stack life cycle with roll-back


def _rollback_create(stack: Stack, failure: StackResourceFailure) -> None:
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to create: [{failure.logical_id}]. "
        "Rollback requested by user.",
    )
    try:
        stack.resource_map.delete()
    except Exception as err:
        stack.status = "ROLLBACK_FAILED"
        stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=_reason(err))
        return
    # Nothing is left: no resources (moto's map would create them lazily
    # again on the next read) and no outputs.
    stack.resource_map._resource_json_map = {}
    stack.output_map = OutputMap(stack.resource_map, {}, stack.stack_id)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")


_original_create_resources = Stack.create_resources


def create_resources(self: Stack) -> None:
    try:
        _original_create_resources(self)
    except StackResourceFailure as failure:
        _rollback_create(self, failure)


_original_stack_update = Stack.update


def update(self: Stack, template: str, role_arn: str | None = None,
           parameters: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> None:
    old_template = self.template
    old_parameters = dict(self.resource_map.input_parameters or {})
    self.resource_map.__dict__["_drctl_failed"] = {}
    self.status = "UPDATE_IN_PROGRESS"
    try:
        # RoleARN: "If you don't specify a value, CloudFormation uses the role
        # that was previously associated with the stack" (moto clears it).
        _original_stack_update(self, template, role_arn or self.role_arn,
                               parameters=parameters, tags=tags)
    except StackResourceFailure as failure:
        self.status = "UPDATE_ROLLBACK_IN_PROGRESS"
        self._add_stack_event(
            "UPDATE_ROLLBACK_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to "
            f"{failure.action}: [{failure.logical_id}].",
        )
        self.template = old_template
        self._parse_template()
        self.resource_map.__dict__["_drctl_failed"] = {}
        try:
            self.resource_map.update(self.template_dict, old_parameters)
        except Exception as err:
            self.status = "UPDATE_ROLLBACK_FAILED"
            self._add_stack_event("UPDATE_ROLLBACK_FAILED", resource_status_reason=_reason(err))
            return
        self.output_map = self._create_output_map()
        self.status = "UPDATE_ROLLBACK_COMPLETE"
        self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        return
    self.output_map = self._create_output_map()
    self.description = self.template_dict.get("Description")


def execute_change_set(self: CloudFormationBackend, change_set_name: str,
                       stack_name: str | None = None) -> None:
    change_set = find_change_set(self, change_set_name, stack_name)
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
            f"execution status of [{change_set.execution_status}]"
        )
    stack = self.stacks[change_set.stack_id]
    # Fn::ImportValue resolves against the region's exports; moto hands them
    # only to stacks made by CreateStack (and drops an empty dict for a copy).
    stack.cross_stack_resources = self.exports
    stack.resource_map.cross_stack_resources = self.exports
    if change_set.change_set_type == "CREATE":
        stack.status = "CREATE_IN_PROGRESS"
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.template = change_set.template
        stack._parse_template()
        stack.resource_map.cross_stack_resources = self.exports
        stack.parameters = change_set.parameters
        # The stack may be an earlier CREATE change set's review stack.
        stack.role_arn = change_set.role_arn or stack.role_arn
        if change_set.tags:
            stack.tags = dict(change_set.tags)
            stack.resource_map.tags = dict(change_set.tags)
        try:
            change_set.apply()
        except StackResourceFailure as failure:
            _rollback_create(stack, failure)
            change_set.execution_status = "EXECUTE_FAILED"
        else:
            stack.status = "CREATE_COMPLETE"
            stack._add_stack_event("CREATE_COMPLETE")
            change_set.execution_status = "EXECUTE_COMPLETE"
            stack.output_map = stack._create_output_map()
            _publish_exports(self, stack)
        stack.description = stack.template_dict.get("Description")
    else:
        stack.update(
            change_set.template,
            change_set.role_arn,
            parameters=change_set.parameters,
            tags=change_set.tags or None,
        )
        failed = stack.status != "UPDATE_COMPLETE"
        change_set.execution_status = "EXECUTE_FAILED" if failed else "EXECUTE_COMPLETE"
        if not failed:
            _publish_exports(self, stack)
    # Every other change set of the stack is now out of date.
    for other in self.change_sets.values():
        if other is not change_set and other.stack_id == stack.stack_id:
            if other.execution_status == "AVAILABLE":
                other.execution_status = "OBSOLETE"


def _publish_exports(backend: CloudFormationBackend, stack: Stack) -> None:
    """The stack's exports replace the ones it had: moto registers exports
    only in CreateStack, so a stack made or changed by a change set exported
    nothing and every Fn::ImportValue of it failed."""
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    for export in stack.exports:
        backend.exports[export.name] = export


_original_update_stack = CloudFormationBackend.update_stack


def update_stack(self: CloudFormationBackend, name: str, template: str, role_arn: str | None,
                 parameters: list[dict[str, Any]], tags: dict[str, str] | None) -> Stack:
    stack = self.get_stack(name)
    new_params = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
    if (
        stack.has_template(template)
        and (new_params or {}) == (stack.resource_map.input_parameters or {})
        and (not tags or tags == stack.tags)
    ):
        raise ValidationError(stack.name, message="No updates are to be performed.")
    stack = _original_update_stack(self, name, template, role_arn, parameters, tags)
    if stack.status == "UPDATE_COMPLETE":
        _publish_exports(self, stack)
    return stack


def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    stack = None
    for candidate in self.stacks.values():
        if candidate.stack_id == name_or_stack_id or candidate.name == name_or_stack_id:
            stack = candidate
            break
    if stack is None:
        return  # deleting a stack that does not exist succeeds, as on AWS
    export_names = [export.name for export in stack.exports]
    try:
        stack.delete()
    except Exception as err:
        stack.status = "DELETE_FAILED"
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=_reason(err))
        return
    self.stacks.pop(stack.stack_id, None)
    self.deleted_stacks[stack.stack_id] = stack
    for export_name in export_names:
        self.exports.pop(export_name, None)
    for change_set_id in [k for k, cs in self.change_sets.items() if cs.stack_id == stack.stack_id]:
        del self.change_sets[change_set_id]


def install() -> None:
    parsing.parse_and_create_resource = parse_and_create_resource
    parsing.parse_and_update_resource = parse_and_update_resource
    parsing.ResourceMap._delete_resource = delete_resource
    parsing.ResourceMap.build_resource_diff = build_resource_diff
    parsing.ResourceMap.update = resource_map_update
    Stack.create_resources = create_resources
    Stack.update = update
    CloudFormationBackend.execute_change_set = execute_change_set
    CloudFormationBackend.update_stack = update_stack
    CloudFormationBackend.delete_stack = delete_stack
