"""Fault injection, call counters, job failures and CloudFormation resource
failures: the registries behind the /_drctl control API.

Faults are matched on (service, operation, account).  A rule fires either
for its next N matching calls (``times``) or for a seeded fraction of them
(``probability`` with ``seed``), or both (a fraction of calls until N have
fired).  A rule with neither fires on every matching call.

An ``omit`` rule lets the call through and drops one top-level field
(``field``) from its JSON answer: an answer AWS's API reference allows
(response members are optional) that drctl must not read as a default.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import random
import re
import threading
import uuid
from collections import Counter
from typing import Any

_lock = threading.RLock()

# The throttling error code each protocol family's services answer with.
THROTTLE_CODES = {
    "cloudformation": "Throttling",
    "sns": "Throttling",
    "sts": "Throttling",
    "iam": "Throttling",
    "dynamodb": "ThrottlingException",
    "backup": "ThrottlingException",
    "servicequotas": "TooManyRequestsException",
}
DEFAULT_THROTTLE_CODE = "ThrottlingException"

KIND_DEFAULTS = {
    # kind: (code, http status, message)
    "throttle": (None, 400, "Rate exceeded"),
    "internal": ("InternalFailure", 500, "We encountered an internal error. Please try again."),
    "unavailable": ("ServiceUnavailable", 503, "Service is unavailable. Please try again later."),
    "latency": (None, 200, ""),
    "omit": (None, 200, ""),
}


class FaultRule:
    def __init__(self, spec: dict[str, Any]):
        kind = spec.get("kind", "throttle")
        if kind == "5xx":
            kind = "internal"
        if kind not in KIND_DEFAULTS:
            raise ValueError(
                f"unknown fault kind {kind!r}: throttle, internal (5xx), unavailable, latency or omit"
            )
        if not spec.get("service"):
            raise ValueError("a fault needs a service (e.g. dynamodb, cloudformation, backup)")
        self.id = spec.get("id") or uuid.uuid4().hex[:12]
        self.kind = kind
        self.service = str(spec["service"]).lower()
        self.operation = spec.get("operation") or "*"
        self.account = spec.get("account")
        self.times = spec.get("times")
        self.fired = 0
        self.probability = spec.get("probability")
        self.seed = spec.get("seed", 0)
        self._random = random.Random(self.seed)
        default_code, default_status, default_message = KIND_DEFAULTS[kind]
        self.code = spec.get("code") or default_code or THROTTLE_CODES.get(
            self.service, DEFAULT_THROTTLE_CODE
        )
        self.status = int(spec.get("status") or default_status)
        self.message = spec.get("message") or default_message
        self.latency_ms = int(spec.get("latency_ms") or 0)
        if kind == "latency" and not self.latency_ms:
            raise ValueError("a latency fault needs latency_ms")
        self.field = spec.get("field")
        if kind == "omit" and not self.field:
            raise ValueError("an omit fault needs the field to drop from the answer")

    def matches(self, service: str, operation: str, account: str) -> bool:
        if self.service not in ("*", service):
            return False
        if not fnmatch.fnmatchcase(operation or "", self.operation):
            return False
        if self.account and self.account != account:
            return False
        return not self.exhausted

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= int(self.times)

    def roll(self) -> bool:
        """Decide whether this call is hit (and count it if so)."""
        if self.probability is not None and self._random.random() >= float(self.probability):
            return False
        self.fired += 1
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "service": self.service,
            "operation": self.operation,
            "account": self.account,
            "times": self.times,
            "fired": self.fired,
            "probability": self.probability,
            "seed": self.seed,
            "code": self.code if self.kind != "latency" else None,
            "status": self.status if self.kind != "latency" else None,
            "message": self.message or None,
            "latency_ms": self.latency_ms or None,
            "field": self.field,
        }


class FaultRegistry:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, spec: dict[str, Any]) -> FaultRule:
        rule = FaultRule(spec)
        with _lock:
            self.rules.append(rule)
        return rule

    def clear(self, account: str | None = None, rule_id: str | None = None) -> int:
        with _lock:
            before = len(self.rules)
            self.rules = [
                r for r in self.rules
                if not ((rule_id is None or r.id == rule_id)
                        and (account is None or r.account == account))
            ]
            return before - len(self.rules)

    def list(self, account: str | None = None) -> list[dict[str, Any]]:
        with _lock:
            return [r.to_dict() for r in self.rules if account is None or r.account == account]

    def decide(self, service: str, operation: str,
               account: str) -> tuple[int, FaultRule | None, list[str]]:
        """Total latency to add (ms), the error rule that fires, if any, and
        the fields to drop from the answer."""
        latency = 0
        error = None
        omitted: list[str] = []
        with _lock:
            for rule in self.rules:
                if not rule.matches(service, operation, account):
                    continue
                if rule.kind == "latency":
                    if rule.roll():
                        latency += rule.latency_ms
                elif rule.kind == "omit":
                    if rule.roll():
                        omitted.append(rule.field)
                elif error is None and rule.roll():
                    error = rule
                    latency += rule.latency_ms
        return latency, error, omitted


FAULTS = FaultRegistry()


class CallCounter:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def count(self, account: str, service: str, operation: str) -> None:
        with _lock:
            self.counts[(account, service, operation or "?")] += 1

    def report(self, account: str | None = None) -> dict[str, Any]:
        with _lock:
            calls: Counter[str] = Counter()
            for (acct, service, op), n in self.counts.items():
                if account is None or acct == account:
                    calls[f"{service}/{op}"] += n
        return {"account": account, "total": sum(calls.values()), "calls": dict(sorted(calls.items()))}

    def clear(self, account: str | None = None) -> None:
        with _lock:
            if account is None:
                self.counts.clear()
            else:
                for key in [k for k in self.counts if k[0] == account]:
                    del self.counts[key]


CALLS = CallCounter()


# --------------------------------------------------------------------------
# Wire formats of an injected error


def error_response(protocol: str, service: str, rule: FaultRule) -> tuple[int, dict[str, str], bytes]:
    return wire_error(protocol, service, rule.code, rule.message, rule.status)


def wire_error(protocol: str, service: str, code: str, message: str,
               status: int) -> tuple[int, dict[str, str], bytes]:
    """An error in a protocol family's wire format: query/XML ErrorResponse,
    JSON 1.0/1.1 with ``__type``, rest-json with ``x-amzn-ErrorType``, or
    S3's rest-xml ``<Error>``."""
    request_id = str(uuid.uuid4())
    if protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        return status, headers, body.encode()
    if protocol == "query":
        fault_type = "Sender" if status < 500 else "Receiver"
        body = (
            f'<ErrorResponse xmlns="http://{service}.amazonaws.com/doc/">'
            f"<Error><Type>{fault_type}</Type><Code>{code}</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
        return status, headers, body.encode()
    if protocol == "json":
        prefix = "com.amazonaws.dynamodb.v20120810#" if service == "dynamodb" else ""
        body = json.dumps({"__type": prefix + code, "message": message})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}
        return status, headers, body.encode()
    # rest-json (AWS Backup) and anything else
    body = json.dumps({"Message": message, "message": message, "Code": code})
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": request_id,
    }
    return status, headers, body.encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------
# Jobs told to fail


class _RuleBook:
    """A list of failure rules, each optionally scoped to one account."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []

    def list(self) -> list[dict[str, Any]]:
        with _lock:
            return [dict(r) for r in self.rules]

    def clear(self, account: str | None = None) -> None:
        with _lock:
            self.rules = [r for r in self.rules if account is not None and r["account"] != account]


class JobFailures(_RuleBook):
    """Rules that make a backup / restore / copy job (or a DynamoDB export)
    end FAILED."""

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        kind = spec.get("kind", "all")
        if kind not in ("backup", "restore", "copy", "export", "all"):
            raise ValueError("kind must be backup, restore, copy, export or all")
        if not (spec.get("next") or spec.get("resource_arn") or spec.get("target_table")):
            raise ValueError('say which job fails: "next": true, resource_arn or target_table')
        rule = {
            "id": uuid.uuid4().hex[:12],
            "account": spec.get("account"),
            "kind": kind,
            "next": bool(spec.get("next")),
            "resource_arn": spec.get("resource_arn"),
            "target_table": spec.get("target_table"),
            "message": spec.get("message") or "Injected failure",
            "code": spec.get("code"),  # an export's FailureCode (default UNKNOWN)
            "times": int(spec.get("times", 1)),
        }
        with _lock:
            self.rules.append(rule)
        return rule

    def _match(self, rule: dict[str, Any], job: Any, attrs: dict[str, Any]) -> bool:
        if rule["kind"] not in ("all", job.kind):
            return False
        if rule["account"] and rule["account"] != job.account:
            return False
        if rule["next"]:
            return True
        if rule["resource_arn"] and rule["resource_arn"] == attrs.get("resource_arn"):
            return True
        return bool(rule["target_table"] and rule["target_table"] == attrs.get("target_table"))

    def apply(self, job: Any, attrs: dict[str, Any]) -> bool:
        with _lock:
            for rule in self.rules:
                if rule["times"] > 0 and self._match(rule, job, attrs):
                    rule["times"] -= 1
                    job.doom(rule["message"], rule.get("code"))
                    self.rules = [r for r in self.rules if r["times"] > 0]
                    return True
        return False

JOB_FAILURES = JobFailures()


# --------------------------------------------------------------------------
# CloudFormation resources told to fail


class ResourceFailures(_RuleBook):
    """Rules that make a CloudFormation resource fail to create or update.

    A rule names a resource type (default any), and a pattern (shell glob, or
    a regular expression when it starts with ``re:``) matched against the
    resource's physical name (e.g. a vault's BackupVaultName) or logical id.
    """

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        if not spec.get("pattern"):
            raise ValueError("a resource failure needs a pattern (glob, or re:REGEX)")
        action = spec.get("action", "create")
        if action not in ("create", "update", "any"):
            raise ValueError("action must be create, update or any")
        rule = {
            "id": uuid.uuid4().hex[:12],
            "account": spec.get("account"),
            "resource_type": spec.get("resource_type") or "*",
            "pattern": spec["pattern"],
            "action": action,
            "message": spec.get("message") or "Injected resource failure",
            "times": spec.get("times"),
        }
        with _lock:
            self.rules.append(rule)
        return rule

    @staticmethod
    def _pattern_hit(pattern: str, values: list[str]) -> bool:
        for value in values:
            if not value:
                continue
            if pattern.startswith("re:"):
                if re.search(pattern[3:], value):
                    return True
            elif fnmatch.fnmatchcase(value, pattern):
                return True
        return False

    def check(self, account: str, resource_type: str, action: str, names: list[str]) -> str | None:
        """The failure reason if a rule says this resource fails."""
        with _lock:
            for rule in self.rules:
                if rule["account"] and rule["account"] != account:
                    continue
                if rule["action"] not in ("any", action):
                    continue
                if not fnmatch.fnmatchcase(resource_type, rule["resource_type"]):
                    continue
                if not self._pattern_hit(rule["pattern"], names):
                    continue
                if rule["times"] is not None:
                    if int(rule["times"]) <= 0:
                        continue
                    rule["times"] = int(rule["times"]) - 1
                return rule["message"]
        return None

RESOURCE_FAILURES = ResourceFailures()


# --------------------------------------------------------------------------
# Backups told to leave items out


class SnapshotOmissions(_RuleBook):
    """Rules that make the next backup job(s) of a table leave items out of
    the recovery point: items written just before the job are missing, as
    when a recovery point is older than it claims. A canary check must catch
    it; nothing else in the job says so.

    A rule names the table (``resource_arn``) and ``key_prefix``: every item
    with a string or binary key attribute starting with it is left out.
    """

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        if not spec.get("resource_arn"):
            raise ValueError("say which table's backups: resource_arn")
        if not spec.get("key_prefix"):
            raise ValueError("say which items: key_prefix (items whose key starts with it are left out)")
        rule = {
            "id": uuid.uuid4().hex[:12],
            "account": spec.get("account"),
            "resource_arn": spec["resource_arn"],
            "key_prefix": str(spec["key_prefix"]),
            "times": int(spec.get("times", 1)),
            "fired": 0,
        }
        if rule["times"] < 1:
            raise ValueError("times must be at least 1")
        with _lock:
            self.rules.append(rule)
        return rule

    def take(self, account: str, resource_arn: str) -> list[str]:
        """The key prefixes this backup of ``resource_arn`` leaves out; each
        matching rule counts one use and is dropped once used up."""
        with _lock:
            prefixes = []
            for rule in self.rules:
                if rule["account"] and rule["account"] != account:
                    continue
                if rule["resource_arn"] != resource_arn or rule["fired"] >= rule["times"]:
                    continue
                rule["fired"] += 1
                prefixes.append(rule["key_prefix"])
            self.rules = [r for r in self.rules if r["fired"] < r["times"]]
            return prefixes


SNAPSHOT_OMISSIONS = SnapshotOmissions()


def key_starts_with(item: Any, key_names: list[str], prefixes: list[str]) -> bool:
    """Whether a moto item has a string or binary key attribute starting
    with one of ``prefixes``."""
    for name in key_names:
        value = item.attrs.get(name)
        if value is None or value.type not in ("S", "B"):
            continue
        text = value.value
        if value.type == "B" and isinstance(text, str):  # the base64 of the wire
            try:
                text = base64.b64decode(text, validate=True)
            except ValueError:
                pass
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if any(str(text).startswith(prefix) for prefix in prefixes):
            return True
    return False
