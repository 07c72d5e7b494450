"""An evaluator of identity-based IAM policies within one account, after the
IAM User Guide's "Policy evaluation logic": an explicit Deny in any
statement wins; otherwise an Allow; otherwise the request is implicitly
denied. Pure Python, no moto: ``evaluate(policies, action, resource,
context)``.

What a statement matches (IAM User Guide, "IAM JSON policy elements"):

- ``Action`` / ``NotAction``: ``service:Name``, case-insensitive, ``*`` and
  ``?`` anywhere.
- ``Resource`` / ``NotResource``: ARNs, case-sensitive; ``*`` and ``?``
  within a colon-separated segment, and a ``*`` that ends a segment may
  expand beyond the colon ("Using wildcards in resource ARNs"). A request
  without a resource (actions with no resource type in the Service
  Authorization Reference) is the resource ``*``: only a ``*`` pattern
  matches it.
- ``Condition``: every operator block and every key in it must hold (AND);
  several values for one key are OR-ed, and a negated operator
  (``StringNotEquals``, ``ArnNotLike``, ...) holds when no value matches.
  A key absent from the request context makes a positive operator false and
  a negated one true ("Condition operators", the Important note), except:
  ``...IfExists`` holds when the key is absent; ``Null`` tests absence;
  ``ForAllValues:`` holds when the key is absent (or empty) and
  ``ForAnyValue:`` does not ("Set operators for multivalued context keys").
- Policy variables ``${key}``, ``${key, 'default'}``, ``${*}``, ``${?}``,
  ``${$}`` in ``Resource`` and in string, ARN and Bool condition values,
  in policies whose ``Version`` is ``2012-10-17`` (older versions take them
  literally). A variable whose key is absent (or multivalued) and has no
  default matches nothing ("Policy variables with no value").

Condition keys are case-insensitive; a context maps each key to a string,
a bool, a number, or a list of strings (a multivalued key). A single-valued
operator on a multivalued key holds when any value matches (negated: none).
"""

from __future__ import annotations

import base64
import datetime as _dt
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

ALLOW = "Allow"
EXPLICIT_DENY = "ExplicitDeny"
IMPLICIT_DENY = "ImplicitDeny"


@dataclass
class Decision:
    effect: str  # ALLOW, EXPLICIT_DENY or IMPLICIT_DENY
    statement: dict[str, Any] | None = None  # the deny that decided, or an allow that matched
    allowed_by: list[str] = field(default_factory=list)  # Sids (or indexes) of matching allows

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW

    def to_dict(self) -> dict[str, Any]:
        sid = None
        if self.statement is not None:
            sid = self.statement.get("Sid")
        return {"decision": self.effect, "statement": sid, "allowed_by": self.allowed_by}


# ---------------------------------------------------------------------------
# The request context


class Context:
    """Condition keys of one request, looked up case-insensitively. A value
    is a list of strings; an absent key (or an empty list) is None."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values: dict[str, list[str]] = {}
        for key, value in (values or {}).items():
            self.set(key, value)

    def set(self, key: str, value: Any) -> None:
        if value is None:
            self._values.pop(key.lower(), None)
            return
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [_text(v) for v in value]
        else:
            items = [_text(value)]
        self._values[key.lower()] = items

    def get(self, key: str) -> list[str] | None:
        found = self._values.get(key.lower())
        return found if found else None

    def single(self, key: str) -> str | None:
        """The value of a single-valued key (a policy variable's value)."""
        found = self._values.get(key.lower())
        if found is None or len(found) != 1:
            return None
        return found[0]

    def to_dict(self) -> dict[str, list[str]]:
        return dict(self._values)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------
# Patterns: policy variables, wildcards, ARNs

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'((?:[^']|'')*)'\s*$")


class _Unresolved(Exception):
    pass


def _tokens(pattern: str, ctx: Context, variables: bool) -> list[tuple[bool, str]]:
    """The pattern as (is_literal, text) pieces: text from a policy
    variable is literal (its * and ? are no wildcards)."""
    if not variables or "${" not in pattern:
        return [(False, pattern)]
    pieces: list[tuple[bool, str]] = []
    pos = 0
    for match in _VARIABLE.finditer(pattern):
        pieces.append((False, pattern[pos:match.start()]))
        inner = match.group(1).strip()
        if inner in ("*", "?", "$"):
            pieces.append((True, inner))
        else:
            default = _DEFAULT.match(inner)
            key = default.group(1) if default else inner
            value = ctx.single(key)
            if value is None:
                if default is None:
                    raise _Unresolved(key)
                value = default.group(2).replace("''", "'")
            pieces.append((True, value))
        pos = match.end()
    pieces.append((False, pattern[pos:]))
    return pieces


def _glob_regex(pieces: list[tuple[bool, str]], wildcards: bool) -> str:
    out = []
    for literal, text in pieces:
        if literal or not wildcards:
            out.append(re.escape(text))
            continue
        for ch in text:
            out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "".join(out)


def _arn_regex(pieces: list[tuple[bool, str]]) -> str:
    """Resource-element rule: * and ? stay within a colon-separated segment,
    but a * that ends a segment (before a ':' or at the end) may expand
    beyond it."""
    flat: list[tuple[bool, str]] = []  # (is_wildcard, char)
    for literal, text in pieces:
        for ch in text:
            flat.append((not literal and ch in "*?", ch))
    out = []
    for i, (wild, ch) in enumerate(flat):
        if not wild:
            out.append(re.escape(ch))
        elif ch == "?":
            out.append("[^:]")
        else:
            ends_segment = i + 1 == len(flat) or (not flat[i + 1][0] and flat[i + 1][1] == ":")
            out.append(".*" if ends_segment else "[^:]*")
    return "".join(out)


def _matches(regex: str, value: str, ignore_case: bool = False) -> bool:
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Action / NotAction: case-insensitive, * and ? anywhere."""
    return _matches(_glob_regex([(False, pattern)], True), action, ignore_case=True)


def resource_matches(pattern: str, resource: str, ctx: Context | None = None, variables: bool = True) -> bool:
    """Resource / NotResource: ARN wildcards per segment; policy variables."""
    if pattern == "*":
        return True
    try:
        pieces = _tokens(pattern, ctx or Context(), variables)
    except _Unresolved:
        return False
    return _matches(_arn_regex(pieces), resource)


def _arn_condition_matches(pattern: str, value: str, ctx: Context, variables: bool) -> bool:
    """ArnEquals / ArnLike: "Each of the six colon-delimited components of
    the ARN is checked separately and each can include * or ?"."""
    try:
        pieces = _tokens(pattern, ctx, variables)
    except _Unresolved:
        return False
    # Flatten to (is_wildcard_char, char) and split on ':' outside variables.
    components: list[list[tuple[bool, str]]] = [[]]
    for literal, text in pieces:
        for ch in text:
            if ch == ":" and not literal and len(components) < 6:
                components.append([])
            else:
                components[-1].append((literal, ch))
    values = value.split(":", 5)
    if len(values) != 6:
        return False
    if len(components) < 6:
        # "arn:aws:*": a lone trailing * stands for the remaining components.
        if components[-1] != [(False, "*")]:
            return False
        components = components[:-1] + [[(False, "*")]] * (6 - len(components) + 1)
    for comp, val in zip(components, values):
        regex = "".join(re.escape(ch) if literal else (".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
                        for literal, ch in comp)
        if not _matches(regex, val):
            return False
    return True


# ---------------------------------------------------------------------------
# Condition operators


def _string(wildcards: bool, ignore_case: bool) -> Callable[[str, str, Context, bool], bool]:
    def match(policy_value: str, value: str, ctx: Context, variables: bool) -> bool:
        try:
            pieces = _tokens(policy_value, ctx, variables)
        except _Unresolved:
            return False
        return _matches(_glob_regex(pieces, wildcards), value, ignore_case)
    return match


def _number(compare: Callable[[float, float], bool]) -> Callable[[str, str, Context, bool], bool]:
    def match(policy_value: str, value: str, ctx: Context, variables: bool) -> bool:
        try:
            return compare(float(value), float(policy_value))
        except ValueError:
            return False
    return match


def _when(text: str) -> _dt.datetime:
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _dt.datetime.fromtimestamp(float(text), _dt.timezone.utc)
    parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)


def _date(compare: Callable[[Any, Any], bool]) -> Callable[[str, str, Context, bool], bool]:
    def match(policy_value: str, value: str, ctx: Context, variables: bool) -> bool:
        try:
            return compare(_when(value), _when(policy_value))
        except ValueError:
            return False
    return match


def _bool(policy_value: str, value: str, ctx: Context, variables: bool) -> bool:
    try:
        pieces = _tokens(policy_value, ctx, variables)
    except _Unresolved:
        return False
    return "".join(t for _, t in pieces).lower() == value.lower()


def _ip(policy_value: str, value: str, ctx: Context, variables: bool) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(policy_value, strict=False)
    except ValueError:
        return False


def _binary(policy_value: str, value: str, ctx: Context, variables: bool) -> bool:
    try:
        return base64.b64decode(policy_value) == base64.b64decode(value)
    except ValueError:
        return False


def _arn(policy_value: str, value: str, ctx: Context, variables: bool) -> bool:
    return _arn_condition_matches(policy_value, value, ctx, variables)


# name (lower case) -> (positive matcher, negated)
OPERATORS: dict[str, tuple[Callable[[str, str, Context, bool], bool], bool]] = {
    "stringequals": (_string(False, False), False),
    "stringnotequals": (_string(False, False), True),
    "stringequalsignorecase": (_string(False, True), False),
    "stringnotequalsignorecase": (_string(False, True), True),
    "stringlike": (_string(True, False), False),
    "stringnotlike": (_string(True, False), True),
    "numericequals": (_number(lambda a, b: a == b), False),
    "numericnotequals": (_number(lambda a, b: a == b), True),
    "numericlessthan": (_number(lambda a, b: a < b), False),
    "numericlessthanequals": (_number(lambda a, b: a <= b), False),
    "numericgreaterthan": (_number(lambda a, b: a > b), False),
    "numericgreaterthanequals": (_number(lambda a, b: a >= b), False),
    "dateequals": (_date(lambda a, b: a == b), False),
    "datenotequals": (_date(lambda a, b: a == b), True),
    "datelessthan": (_date(lambda a, b: a < b), False),
    "datelessthanequals": (_date(lambda a, b: a <= b), False),
    "dategreaterthan": (_date(lambda a, b: a > b), False),
    "dategreaterthanequals": (_date(lambda a, b: a >= b), False),
    "bool": (_bool, False),
    "binaryequals": (_binary, False),
    "ipaddress": (_ip, False),
    "notipaddress": (_ip, True),
    "arnequals": (_arn, False),
    "arnlike": (_arn, False),
    "arnnotequals": (_arn, True),
    "arnnotlike": (_arn, True),
}


class UnknownOperator(ValueError):
    pass


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [_text(v) for v in value]
    return [_text(value)]


def condition_holds(operator: str, key: str, policy_values: Any, ctx: Context, variables: bool = True) -> bool:
    """One (operator, key, values) entry of a Condition block."""
    name = operator
    qualifier = None
    lowered = name.lower()
    for prefix in ("forallvalues:", "foranyvalue:"):
        if lowered.startswith(prefix):
            qualifier = prefix[:-1]
            name = name[len(prefix):]
            lowered = name.lower()
            break
    values = _as_list(policy_values)
    present = ctx.get(key)
    if lowered == "null":
        # "true": the key must be absent; "false": present.
        return any((v.lower() == "true") == (present is None) for v in values)
    if_exists = lowered.endswith("ifexists")
    if if_exists:
        lowered = lowered[: -len("ifexists")]
    if lowered not in OPERATORS:
        raise UnknownOperator(operator)
    matcher, negated = OPERATORS[lowered]

    def hit(value: str) -> bool:
        """Whether one request value satisfies the operator (negation applied)."""
        found = any(matcher(pv, value, ctx, variables) for pv in values)
        return not found if negated else found

    if present is None:
        if if_exists:
            return True
        if qualifier == "forallvalues":
            return True
        if qualifier == "foranyvalue":
            return False
        return negated
    if qualifier == "forallvalues":
        return all(hit(v) for v in present)
    if qualifier == "foranyvalue":
        return any(hit(v) for v in present)
    if negated:
        return not any(not hit(v) for v in present)
    return any(hit(v) for v in present)


def conditions_hold(condition: Mapping[str, Any] | None, ctx: Context, variables: bool = True) -> bool:
    for operator, block in (condition or {}).items():
        if not isinstance(block, Mapping):
            return False
        for key, values in block.items():
            try:
                if not condition_holds(operator, key, values, ctx, variables):
                    return False
            except UnknownOperator:
                return False
    return True


# ---------------------------------------------------------------------------
# Statements and policies


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statement_applies(statement: Mapping[str, Any], action: str, resource: str, ctx: Context,
                      variables: bool = True) -> bool:
    if "Action" in statement:
        if not any(action_matches(p, action) for p in _listed(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(p, action) for p in _listed(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(resource_matches(p, resource, ctx, variables) for p in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(resource_matches(p, resource, ctx, variables) for p in _listed(statement["NotResource"])):
            return False
    else:
        return False
    return conditions_hold(statement.get("Condition"), ctx, variables)


def _document(policy: Any) -> dict[str, Any]:
    if isinstance(policy, (str, bytes)):
        return json.loads(policy)
    return dict(policy)


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def evaluate(policies: Iterable[Any], action: str, resource: str = "*",
             context: Context | Mapping[str, Any] | None = None) -> Decision:
    """The decision of identity-based ``policies`` (documents, as dicts or
    JSON text) on one request: explicit Deny > Allow > implicit deny."""
    ctx = context if isinstance(context, Context) else Context(context)
    allow: Decision | None = None
    allowed_by: list[str] = []
    for policy in policies:
        document = _document(policy)
        variables = str(document.get("Version", "")) == "2012-10-17"
        for index, statement in enumerate(_statements(document)):
            if not statement_applies(statement, action, resource, ctx, variables):
                continue
            effect = str(statement.get("Effect", ""))
            if effect == "Deny":
                return Decision(EXPLICIT_DENY, dict(statement))
            if effect == "Allow":
                allowed_by.append(str(statement.get("Sid") or index))
                if allow is None:
                    allow = Decision(ALLOW, dict(statement))
    if allow is not None:
        allow.allowed_by = allowed_by
        return allow
    return Decision(IMPLICIT_DENY)


# ---------------------------------------------------------------------------
# Principals of resource-based policies


def principal_matches(element: Any, account: str, arns: Iterable[str] = (), partition: str = "aws") -> bool:
    """Whether a resource-based policy's ``Principal`` element names a
    principal of ``account`` ("AWS JSON policy elements: Principal"): ``"*"``,
    or ``{"AWS": ...}`` (a string or a list) holding ``"*"``, the 12-digit
    account id, ``arn:<partition>:iam::<account>:root`` (both stand for the
    account), or one of ``arns`` (the principal's own ARNs: a user's, a
    role's, an assumed-role session's). ``Service`` and ``Federated``
    principals never name an account's principal."""
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    names = {"*", account, f"arn:{partition}:iam::{account}:root", *arns}
    return any(str(value) in names for value in _listed(element.get("AWS")))
