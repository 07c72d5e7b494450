"""IAM enforcement with resources and conditions, opt-in per account,
access key or principal (``POST /_drctl/iam/enforce``).

moto's own enforcement (``INITIAL_NO_AUTH_ACTION_COUNT``) matches actions
only. Here, for a request signed by an IAM user's access key or by the
session credentials of an assumed IAM role, the emulator:

1. finds the principal and its policies as moto's IAM backend stores them:
   a user's inline and attached policies and those of its groups; a role's
   inline and attached policies; the permissions boundary of either; the
   session policy passed to AssumeRole;
2. lists the authorizations the request needs (``iam_context.checks``):
   action, resource ARN, condition keys;
3. adds the global condition keys (``aws:PrincipalArn``,
   ``aws:PrincipalAccount``, ``aws:ResourceAccount``, ``aws:ResourceTag/*``
   ...) and evaluates (``iam_policy.evaluate``): within the identity
   policies an explicit Deny wins, then an Allow; a boundary and a session
   policy must allow too (their explicit Deny wins as well);
4. answers the first denied authorization with AWS's AccessDenied in the
   service's wire format, or lets the request through.

Credentials that map to no IAM user and no existing IAM role (moto's
default keys, a session of a role that was never created, which is how the
tests get their accounts) are not evaluated: they stand for the account's
administrator. ``sts:GetCallerIdentity`` is never denied (AWS: "No
permissions are required to perform this operation").
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import faults, iam_context, iam_policy

_lock = threading.RLock()

# Signing name -> (protocol family, HTTP status, error code) of AWS's denial.
DENIALS = {
    "dynamodb": ("json", 400, "AccessDeniedException"),
    "tagging": ("json", 400, "AccessDeniedException"),
    "application-autoscaling": ("json", 400, "AccessDeniedException"),
    "servicequotas": ("json", 400, "AccessDeniedException"),
    "backup": ("rest-json", 403, "AccessDeniedException"),
    "cloudformation": ("query", 403, "AccessDenied"),
    "sts": ("query", 403, "AccessDenied"),
    "iam": ("query", 403, "AccessDenied"),
    "sns": ("query", 403, "AuthorizationError"),
    "s3": ("rest-xml", 403, "AccessDenied"),
}
DEFAULT_DENIAL = ("rest-json", 403, "AccessDeniedException")

NEVER_DENIED = {("sts", "GetCallerIdentity")}

MODES = ("enforce", "audit")


# ---------------------------------------------------------------------------
# Who is calling


@dataclass
class Principal:
    arn: str  # as in AWS's messages: the user's ARN, or the assumed-role session's
    identity_arn: str  # aws:PrincipalArn: the user's or the role's ARN
    account: str
    kind: str  # "User" or "AssumedRole"
    userid: str
    username: str | None
    tags: dict[str, str]
    policies: list[tuple[str, Any]]  # (name or ARN, document)
    boundary: Any | None = None
    session_policy: Any | None = None


def _default_document(policy: Any) -> Any:
    """The default version's document of a moto managed policy."""
    for version in getattr(policy, "versions", []):
        if version.is_default:
            return version.document
    return getattr(policy, "document", None)


def _boundary(backend: Any, arn: str | None) -> Any | None:
    if not arn:
        return None
    try:
        return _default_document(backend.get_policy(arn))
    except Exception:  # noqa: BLE001
        # A boundary that names no policy moto knows allows nothing.
        return {"Version": "2012-10-17", "Statement": []}


def resolve(access_key: str, account: str, partition: str) -> Principal | None:
    """The IAM user or assumed role behind an access key, with its
    policies; None when the key maps to no IAM identity moto knows."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    backend = iam_backends[account][partition]
    user = backend.get_user_from_access_key_id(access_key)
    if user is not None:
        policies: list[tuple[str, Any]] = list(user.policies.items())
        policies += [(arn, _default_document(p)) for arn, p in user.managed_policies.items()]
        for group in backend.get_groups_for_user(user.name):
            policies += list(group.policies.items())
            policies += [(arn, _default_document(p)) for arn, p in group.managed_policies.items()]
        return Principal(user.arn, user.arn, account, "User", user.id, user.name,
                         iam_context.tag_dict(getattr(user, "tags", None)), policies,
                         _boundary(backend, getattr(user, "permissions_boundary", None)))
    for session in list(sts_backends[account][partition].assumed_roles):
        if session.access_key_id != access_key:
            continue
        role = None
        for candidate in backend.roles.values():
            if candidate.arn == session.role_arn:
                role = candidate
        if role is None:
            name = session.role_arn.split("/")[-1]
            role = next((r for r in backend.roles.values() if r.name == name), None)
        if role is None:
            return None
        policies = list(role.policies.items())
        policies += [(arn, _default_document(p)) for arn, p in role.managed_policies.items()]
        return Principal(session.arn, role.arn, account, "AssumedRole", f"{role.id}:{session.session_name}",
                         None, iam_context.tag_dict(role.tags), policies,
                         _boundary(backend, role.permissions_boundary_arn), session.policy or None)
    return None


def global_keys(principal: Principal, region: str, environ: dict[str, Any]) -> dict[str, Any]:
    """The global condition keys of every request of this principal (IAM
    User Guide, "AWS global condition context keys")."""
    now = _dt.datetime.now(_dt.timezone.utc)
    keys: dict[str, Any] = {
        "aws:PrincipalArn": principal.identity_arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": principal.kind,
        "aws:userid": principal.userid,
        "aws:RequestedRegion": region,
        "aws:SecureTransport": True,  # the emulator stands in for AWS's HTTPS endpoints
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:ViaAWSService": False,
        "aws:PrincipalIsAWSService": False,
    }
    if principal.username:
        keys["aws:username"] = principal.username
    if environ.get("REMOTE_ADDR"):
        keys["aws:SourceIp"] = environ["REMOTE_ADDR"]
    for key, value in principal.tags.items():
        keys[f"aws:PrincipalTag/{key}"] = value
    return keys


# ---------------------------------------------------------------------------
# Deciding


@dataclass
class Outcome:
    check: iam_context.Check
    allowed: bool
    reason: str  # AWS's wording after the resource: "because no ...", "with an explicit deny in ..."
    statement: str | None = None
    context: dict[str, list[str]] = field(default_factory=dict)


def decide(principal: Principal, check: iam_context.Check, ctx: iam_policy.Context) -> Outcome:
    """Identity policies, then the permissions boundary and the session
    policy, each of which must allow ("Policy evaluation logic")."""
    documents = [doc for _, doc in principal.policies if doc]
    identity = iam_policy.evaluate(documents, check.action, check.resource, ctx)
    limits = [("permissions boundary", principal.boundary), ("session policy", principal.session_policy)]
    sid = identity.to_dict()["statement"]
    if identity.effect == iam_policy.EXPLICIT_DENY:
        return Outcome(check, False, "with an explicit deny in an identity-based policy", sid, ctx.to_dict())
    limited = []
    for kind, document in limits:
        if document:
            result = iam_policy.evaluate([document], check.action, check.resource, ctx)
            if result.effect == iam_policy.EXPLICIT_DENY:
                return Outcome(check, False, f"with an explicit deny in a {kind}",
                               result.to_dict()["statement"], ctx.to_dict())
            limited.append((kind, result))
    if identity.effect != iam_policy.ALLOW:
        return Outcome(check, False, f"because no identity-based policy allows the {check.action} action",
                       None, ctx.to_dict())
    for kind, result in limited:
        if result.effect != iam_policy.ALLOW:
            return Outcome(check, False, f"because no {kind} allows the {check.action} action", None, ctx.to_dict())
    return Outcome(check, True, "", sid, ctx.to_dict())


def message(principal: Principal, outcome: Outcome) -> str:
    where = "" if outcome.check.resource == "*" else f" on resource: {outcome.check.resource}"
    return f"User: {principal.arn} is not authorized to perform: {outcome.check.action}{where} {outcome.reason}"


def denial(service: str, method: str, text: str) -> tuple[int, dict[str, str], bytes]:
    protocol, status, code = DENIALS.get(service, DEFAULT_DENIAL)
    status, headers, body = faults.wire_error(protocol, service, code, text, status)
    if method == "HEAD":
        body = b""
    return status, headers, body


# ---------------------------------------------------------------------------
# The switch and the log


class Enforcement:
    """Rules that turn enforcement on, and the decisions taken."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.decisions: deque[dict[str, Any]] = deque(maxlen=5000)

    def active(self) -> bool:
        return bool(self.rules)

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        if not (spec.get("account") or spec.get("access_key") or spec.get("principal")):
            raise ValueError("say whose requests are evaluated: account, access_key and/or principal (ARN glob)")
        mode = spec.get("mode", "enforce")
        if mode not in MODES:
            raise ValueError("mode must be enforce (deny) or audit (log only)")
        rule = {
            "id": uuid.uuid4().hex[:12],
            "account": spec.get("account"),
            "access_key": spec.get("access_key"),
            "principal": spec.get("principal"),
            "mode": mode,
        }
        with _lock:
            self.rules.append(rule)
        return rule

    def list(self, account: str | None = None) -> list[dict[str, Any]]:
        with _lock:
            return [dict(r) for r in self.rules if account is None or r["account"] in (None, account)]

    def clear(self, account: str | None = None, rule_id: str | None = None) -> int:
        with _lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules
                          if not ((rule_id is None or r["id"] == rule_id)
                                  and (account is None or r["account"] == account))]
            if rule_id is None:
                self.forget(account)
            return before - len(self.rules)

    def forget(self, account: str | None = None) -> None:
        with _lock:
            if account is None:
                self.decisions.clear()
            else:
                kept = [d for d in self.decisions if d["account"] != account]
                self.decisions.clear()
                self.decisions.extend(kept)

    def might_apply(self, account: str, access_key: str) -> bool:
        with _lock:
            return any((r["account"] in (None, account)) and (r["access_key"] in (None, access_key))
                       for r in self.rules)

    def rule_for(self, account: str, access_key: str, principal: Principal) -> dict[str, Any] | None:
        with _lock:
            for rule in self.rules:
                if rule["account"] not in (None, account) or rule["access_key"] not in (None, access_key):
                    continue
                pattern = rule["principal"]
                if pattern and not (fnmatch.fnmatchcase(principal.arn, pattern)
                                    or fnmatch.fnmatchcase(principal.identity_arn, pattern)):
                    continue
                return rule
        return None

    def record(self, entry: dict[str, Any]) -> None:
        with _lock:
            self.decisions.append(entry)

    def log(self, account: str | None = None, denied_only: bool = False) -> list[dict[str, Any]]:
        with _lock:
            return [dict(d) for d in self.decisions
                    if (account is None or d["account"] == account) and (not denied_only or not d["allowed"])]


ENFORCEMENT = Enforcement()


# ---------------------------------------------------------------------------
# The hook


def _credential(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(access key, region) of a SigV4-signed request."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return None
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].strip().split("/")
    if len(scope) < 3:
        return None
    return scope[0], scope[2]


def check(environ: dict[str, Any], service: str, operation: str, account: str,
          body: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """None to let the request through; else the denial to answer."""
    if not ENFORCEMENT.active():
        return None
    credential = _credential(environ)
    if credential is None:
        return None
    access_key, region = credential
    if not ENFORCEMENT.might_apply(account, access_key):
        return None
    from moto.utilities.utils import get_partition

    partition = get_partition(region)
    principal = resolve(access_key, account, partition)
    if principal is None:
        return None
    rule = ENFORCEMENT.rule_for(account, access_key, principal)
    if rule is None or (service, operation) in NEVER_DENIED:
        return None
    try:
        request = iam_context.parse(environ, service, region, account, body)
        needed = iam_context.checks(request)
    except Exception:  # noqa: BLE001  (an unparsable request: its action on *)
        request = iam_context.Request(service, operation, {}, region, account, partition,
                                      environ.get("REQUEST_METHOD", "POST"))
        needed = [iam_context.Check(request.action(), "*")]
    base = global_keys(principal, region, environ)
    outcomes = []
    for needed_check in needed:
        ctx = iam_policy.Context({**base, **iam_context.resource_keys(needed_check, partition), **needed_check.keys})
        outcomes.append(decide(principal, needed_check, ctx))
    enforce = rule["mode"] == "enforce"
    special = _s3_special(request, principal, base, partition, outcomes, enforce)
    denied = next((o for o in outcomes if not o.allowed), None)
    entry = {
        "at": time.time(), "account": account, "principal": principal.arn, "service": service,
        "operation": request.operation, "mode": rule["mode"], "allowed": denied is None,
        "checks": [{"action": o.check.action, "resource": o.check.resource, "allowed": o.allowed,
                    "reason": o.reason or None, "statement": o.statement} for o in outcomes],
    }
    if special is not None and special[0] == "note":
        entry["note"] = special[1]
        special = None
    ENFORCEMENT.record(entry)
    if not enforce:
        return None
    if special is not None:
        return special
    if denied is not None:
        return denial(service, request.method, message(principal, denied))
    return None


def _s3_special(request: iam_context.Request, principal: Principal, base: dict[str, Any], partition: str,
                outcomes: list[Outcome], enforce: bool) -> Any:
    """S3's two per-object rules:

    - DeleteObjects authorizes s3:DeleteObject per key and reports a denied
      key in the answer's Errors (the request itself succeeds): the allowed
      keys are deleted here and the answer is made here.
    - GetObject / HeadObject of a key that does not exist is 403 Access
      Denied, not 404, unless s3:ListBucket is allowed on the bucket (S3 API
      Reference, GetObject and HeadObject, "Permissions").
    """
    if request.service != "s3":
        return None
    if request.operation == "DeleteObjects" and outcomes and any(not o.allowed for o in outcomes):
        if not enforce:
            return None
        return _delete_objects(request, principal, outcomes)
    if request.operation in ("GetObject", "HeadObject") and outcomes and all(o.allowed for o in outcomes):
        bucket, key = request.params.get("Bucket"), request.params.get("Key")
        found = iam_context._bucket(bucket) if bucket else None
        if found is None or key is None:
            return None
        backend, _ = found
        try:
            exists = backend.get_object(bucket, key, request.params.get("VersionId")) is not None
        except Exception:  # noqa: BLE001
            exists = False
        if exists:
            return None
        listing = iam_context.Check("s3:ListBucket", iam_context.s3_arn(request, bucket),
                                    iam_context._s3_keys(request, bucket))
        ctx = iam_policy.Context({**base, **iam_context.resource_keys(listing, partition), **listing.keys})
        listed = decide(principal, listing, ctx)
        if listed.allowed:
            return None
        outcomes.append(Outcome(listing, False, "(the object does not exist and s3:ListBucket is not allowed: "
                                "403 instead of 404)", None, ctx.to_dict()))
        if not enforce:
            return ("note", "missing object without s3:ListBucket: 403")
        return denial("s3", request.method, "Access Denied")
    return None


def _delete_objects(request: iam_context.Request, principal: Principal,
                    outcomes: list[Outcome]) -> tuple[int, dict[str, str], bytes]:
    bucket = request.params.get("Bucket")
    delete = request.params.get("Delete") or {}
    quiet = bool(delete.get("Quiet"))
    found = iam_context._bucket(bucket) if bucket else None
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
    for obj, outcome in zip(delete.get("Objects") or [], outcomes):
        key = obj.get("Key", "")
        version = obj.get("VersionId")
        esc = faults._xml_escape(key)
        if outcome.allowed and found is not None:
            try:
                found[0].delete_object(bucket, key, version_id=version)
            except Exception as err:  # noqa: BLE001
                parts.append(f"<Error><Key>{esc}</Key><Code>InternalError</Code>"
                             f"<Message>{faults._xml_escape(str(err))}</Message></Error>")
                continue
            if not quiet:
                parts.append(f"<Deleted><Key>{esc}</Key>"
                             + (f"<VersionId>{version}</VersionId>" if version else "") + "</Deleted>")
        else:
            parts.append(f"<Error><Key>{esc}</Key>" + (f"<VersionId>{version}</VersionId>" if version else "")
                         + f"<Code>AccessDenied</Code><Message>{faults._xml_escape(message(principal, outcome))}"
                         "</Message></Error>")
    parts.append("</DeleteResult>")
    body = "".join(parts).encode()
    request_id = str(uuid.uuid4())
    return 200, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body


# ---------------------------------------------------------------------------
# Evaluating without a request (the control API's /iam/evaluate)


def evaluate_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``{policies: [...], action, resource?, context?}`` -> the decision."""
    policies = spec.get("policies")
    if isinstance(policies, (dict, str)):
        policies = [policies]
    if not isinstance(policies, list) or not spec.get("action"):
        raise ValueError("say policies (a list of policy documents) and action")
    try:
        decision = iam_policy.evaluate(policies, spec["action"], spec.get("resource") or "*", spec.get("context") or {})
    except json.JSONDecodeError as err:
        raise ValueError(f"a policy is not JSON: {err}") from err
    return decision.to_dict()
