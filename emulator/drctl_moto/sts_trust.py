"""AssumeRole trust policies, opt-in per target account
(``POST /_drctl/sts/trust``).

moto's STS answers AssumeRole into any role ARN, even one never created:
the tests rely on it to get isolated random accounts, so nothing changes
by default. For a role in an account turned on here, an ``sts:AssumeRole``
succeeds only as on AWS (IAM User Guide, "Troubleshooting IAM roles", I
can't assume a role; "AWS JSON policy elements: Principal"):

- the role exists in moto's IAM backend of that account;
- its trust policy (AssumeRolePolicyDocument) has an ``Allow`` statement
  whose ``Action`` (or ``NotAction``) admits ``sts:AssumeRole``, whose
  ``Principal`` admits the caller and whose ``Condition`` holds;
- no ``Deny`` statement matches the caller.

A ``Principal`` admits the caller when it is ``"*"`` or ``{"AWS": ...}``
(a string or a list) naming ``"*"``, the caller's 12-digit account id,
``arn:<partition>:iam::<account>:root``, or the caller's principal ARN (an
IAM user's ARN; for an assumed-role session the role's ARN or the
session's ``arn:aws:sts::...:assumed-role/...`` ARN). ``NotPrincipal``
admits everybody it does not name. Conditions are evaluated by
``iam_policy`` on the request's keys: ``sts:ExternalId``,
``sts:RoleSessionName``, ``aws:RequestTag/*``, ``aws:TagKeys`` and the
global keys (``aws:PrincipalAccount``, ``aws:PrincipalArn``,
``aws:PrincipalType``, ``aws:CurrentTime``, ...).

The caller is found from the request's access key the way iam_enforce.py
does: an IAM user, or a session of an IAM role that exists. Credentials
that map to neither (moto's default keys, a session of a never-created
role) stand for ``arn:<partition>:iam::<account>:root`` of the account
the key maps to.

Otherwise the answer is AWS's: HTTP 403, code ``AccessDenied``, in the STS
query (XML) format, ``User: <caller ARN> is not authorized to perform:
sts:AssumeRole on resource: <role ARN>``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from . import faults, iam_context, iam_enforce, iam_policy

_lock = threading.RLock()

ACTION = "sts:AssumeRole"
_ACCOUNT = re.compile(r"^\d{12}$")


class Trust:
    """The target accounts whose roles' trust policies are evaluated."""

    def __init__(self) -> None:
        self.accounts: set[str] = set()

    def active(self) -> bool:
        return bool(self.accounts)

    def add(self, account: str | None) -> list[str]:
        if not account or not _ACCOUNT.match(str(account)):
            raise ValueError("say account: the 12-digit account whose roles' trust policies are evaluated")
        with _lock:
            self.accounts.add(str(account))
            return sorted(self.accounts)

    def remove(self, account: str | None) -> bool:
        """Turns one account off (None: every account); whether any was on."""
        with _lock:
            if account is None:
                had = bool(self.accounts)
                self.accounts.clear()
                return had
            if account in self.accounts:
                self.accounts.discard(account)
                return True
            return False

    def covers(self, account: str) -> bool:
        with _lock:
            return account in self.accounts

    def list(self) -> list[str]:
        with _lock:
            return sorted(self.accounts)


TRUST = Trust()


# ---------------------------------------------------------------------------
# Who is calling


@dataclass
class Caller:
    arn: str  # as in AWS's message: the user's ARN, the session's ARN, or the account's root
    account: str
    partition: str
    kind: str  # "User", "AssumedRole" or "Account"
    region: str  # the signing region
    principal_arns: set[str] = field(default_factory=set)  # what a Principal element may name
    keys: dict[str, Any] = field(default_factory=dict)  # global condition keys


def caller_of(environ: dict[str, Any], account: str) -> Caller:
    from moto.utilities.utils import get_partition

    credential = iam_enforce._credential(environ)
    access_key, region = credential if credential else (None, "us-east-1")
    partition = get_partition(region)
    principal = iam_enforce.resolve(access_key, account, partition) if access_key else None
    if principal is not None:
        return Caller(principal.arn, account, partition, principal.kind, region,
                      {principal.arn, principal.identity_arn},
                      iam_enforce.global_keys(principal, region, environ))
    root = f"arn:{partition}:iam::{account}:root"
    now = _dt.datetime.now(_dt.timezone.utc)
    keys: dict[str, Any] = {
        "aws:PrincipalArn": root,
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": "Account",
        "aws:userid": account,
        "aws:RequestedRegion": region,
        "aws:SecureTransport": True,
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:ViaAWSService": False,
        "aws:PrincipalIsAWSService": False,
    }
    if environ.get("REMOTE_ADDR"):
        keys["aws:SourceIp"] = environ["REMOTE_ADDR"]
    return Caller(root, account, partition, "Account", region, {root}, keys)


# ---------------------------------------------------------------------------
# The trust policy


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def principal_admits(element: Any, caller: Caller) -> bool:
    """Whether a Principal element names the caller."""
    return iam_policy.principal_matches(element, caller.account, caller.principal_arns, caller.partition)


def statement_matches(statement: dict[str, Any], caller: Caller, ctx: iam_policy.Context,
                      variables: bool) -> bool:
    if "Action" in statement:
        if not any(iam_policy.action_matches(str(p), ACTION) for p in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(iam_policy.action_matches(str(p), ACTION) for p in _listed(statement["NotAction"])):
            return False
    else:
        return False
    if "Principal" in statement:
        if not principal_admits(statement["Principal"], caller):
            return False
    elif "NotPrincipal" in statement:
        if principal_admits(statement["NotPrincipal"], caller):
            return False
    else:
        return False
    return iam_policy.conditions_hold(statement.get("Condition"), ctx, variables)


def trusts(document: Any, caller: Caller, ctx: iam_policy.Context) -> bool:
    """Explicit Deny > Allow > implicit deny, over the trust policy."""
    try:
        doc = json.loads(document) if isinstance(document, (str, bytes)) else dict(document or {})
    except (ValueError, TypeError):
        return False
    variables = str(doc.get("Version", "")) == "2012-10-17"
    statements = doc.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements or [])
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or not statement_matches(statement, caller, ctx, variables):
            continue
        effect = str(statement.get("Effect", ""))
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


def _role(account: str, partition: str, role_arn: str) -> Any | None:
    from moto.iam.models import iam_backends

    backend = iam_backends[account][partition]
    for role in list(backend.roles.values()):
        if role.arn == role_arn:
            return role
    return None


# ---------------------------------------------------------------------------
# The hook


def _params(environ: dict[str, Any], body: bytes) -> dict[str, str]:
    values = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    values.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
    return values


def check(environ: dict[str, Any], account: str, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """None to let an sts:AssumeRole through; else AWS's AccessDenied."""
    if not TRUST.active():
        return None
    params = _params(environ, body)
    role_arn = params.get("RoleArn") or ""
    target = iam_context.arn_account(role_arn)
    if target is None or not TRUST.covers(target):
        return None
    caller = caller_of(environ, account)
    role = _role(target, caller.partition, role_arn)
    allowed = False
    if role is not None:
        keys = dict(caller.keys)
        try:
            request = iam_context.parse(environ, "sts", caller.region, account, body)
            for needed in iam_context.checks(request):
                keys.update(needed.keys)
        except Exception:  # noqa: BLE001  (fall back to the form's own keys)
            if params.get("ExternalId") is not None:
                keys["sts:ExternalId"] = params["ExternalId"]
            if params.get("RoleSessionName") is not None:
                keys["sts:RoleSessionName"] = params["RoleSessionName"]
        keys["aws:ResourceAccount"] = target
        allowed = trusts(role.assume_role_policy_document, caller, iam_policy.Context(keys))
    if allowed:
        return None
    text = f"User: {caller.arn} is not authorized to perform: {ACTION} on resource: {role_arn}"
    return faults.wire_error("query", "sts", "AccessDenied", text, 403)
