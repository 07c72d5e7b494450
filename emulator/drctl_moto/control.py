"""The WSGI front of the emulator: the /_drctl control API, call counting
and fault injection, in front of moto's own server application."""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any, Callable
from urllib.parse import parse_qs

from moto.core.request import Request
from moto.core.responses import BaseResponse
from moto.core.routing import get_service_router

from . import exports, faults, iam_enforce, lifecycle, overlap, pitr, quotas, sts_trust
from .corruption import RESTORE_CORRUPTIONS

CONTROL_PREFIX = "/_drctl"

# botocore protocol family per signing name (the services drctl uses and a
# few neighbours); anything else is treated as rest-json.
PROTOCOLS = {
    "cloudformation": "query",
    "sns": "query",
    "sts": "query",
    "iam": "query",
    "sqs": "json",
    "dynamodb": "json",
    "backup": "rest-json",
    "servicequotas": "json",
}


# ---------------------------------------------------------------------------
# Who is calling what


def account_of(environ: dict[str, Any]) -> str:
    """The account moto serves this request from (same rules as moto)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    access_key = "AKIAEXAMPLE"
    match = BaseResponse.access_key_regex.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        access_key = match.group(1)
    return get_account_id_from(access_key)


def service_of(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split(",")[0].split()[1]
        return scope.split("/")[3].lower()
    except (IndexError, ValueError):
        return None


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def operation_of(environ: dict[str, Any], service: str) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.split(".")[-1]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = _read_body(environ).decode("utf-8", "replace")
        action = parse_qs(body).get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        if action:
            return action[0]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if action:
        return action[0]
    try:
        operation, _ = get_service_router(service).match(Request(dict(environ)))
        return operation.name
    except Exception:
        return "?"


# ---------------------------------------------------------------------------
# The control API


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden"}


def _json_response(start_response: Callable, status: int, payload: Any) -> list[bytes]:
    body = json.dumps(payload, indent=1, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "OK")
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                           ("Content-Length", str(len(body)))])
    return [body]


def _all_jobs(account: str | None):
    from moto.backup.models import backup_backends

    from .backup_models import ext

    for acct, regions in list(backup_backends.items()):
        if account and acct != account:
            continue
        for region in list(regions.keys()):
            state = ext(regions[region])
            yield from state.backup_jobs.values()
            yield from state.restore_jobs.values()
            yield from state.copy_jobs.values()
    yield from exports.all_exports(account)


def handle_control(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX):].rstrip("/") or "/"
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    raw = _read_body(environ)
    try:
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
    except ValueError as err:
        return _json_response(start_response, 400, {"error": f"bad JSON: {err}"})
    account = body.get("account") or query.get("account")
    try:
        if path == "/health":
            from .selfcheck import KNOWN_MOTO_VERSION

            return _json_response(start_response, 200, {"ok": True, "moto": KNOWN_MOTO_VERSION})
        if path == "/faults":
            if method == "GET":
                return _json_response(start_response, 200, {"faults": faults.FAULTS.list(account)})
            if method == "POST":
                specs = body.get("faults") if isinstance(body.get("faults"), list) else [body]
                rules = [faults.FAULTS.add(spec).to_dict() for spec in specs]
                return _json_response(start_response, 200, {"faults": rules})
            if method == "DELETE":
                removed = faults.FAULTS.clear(account, query.get("id") or body.get("id"))
                return _json_response(start_response, 200, {"removed": removed})
        if path == "/calls":
            if method == "GET":
                return _json_response(start_response, 200, faults.CALLS.report(account))
            if method == "DELETE":
                faults.CALLS.clear(account)
                return _json_response(start_response, 200, {"cleared": True})
        if path == "/jobs/progression":
            if method == "POST":
                transition = lifecycle.set_progression(
                    body.get("kind", "all"), body.get("mode", "immediate"), account,
                    body.get("steps"), body.get("seconds"),
                )
                return _json_response(start_response, 200, {"account": account, "kind": body.get("kind", "all"),
                                                            "transition": transition})
            if method == "GET":
                return _json_response(start_response, 200, {
                    kind: lifecycle.progression(kind, account) for kind in lifecycle.KINDS
                })
            if method == "DELETE":
                lifecycle.reset_progression(account)
                return _json_response(start_response, 200, {"reset": True})
        if path == "/jobs/fail":
            if method == "POST":
                rule = faults.JOB_FAILURES.add(body)
                # A matching job already under way fails too.
                doomed = []
                for job in _all_jobs(rule["account"]):
                    attrs = {
                        "resource_arn": getattr(job, "resource_arn", None)
                        or getattr(getattr(job, "recovery_point", None), "resource_arn", None),
                        "target_table": getattr(job, "target_table", None),
                    }
                    if not job._settled and not rule["next"] and faults.JOB_FAILURES.apply(job, attrs):
                        doomed.append(job.job_id)
                return _json_response(start_response, 200, {"rule": rule, "running_jobs_failed": doomed})
            if method == "GET":
                return _json_response(start_response, 200, {"rules": faults.JOB_FAILURES.list()})
            if method == "DELETE":
                faults.JOB_FAILURES.clear(account)
                return _json_response(start_response, 200, {"cleared": True})
        if path == "/backups/omit":
            if method == "POST":
                return _json_response(start_response, 200, {"rule": faults.SNAPSHOT_OMISSIONS.add(body)})
            if method == "GET":
                return _json_response(start_response, 200, {"rules": faults.SNAPSHOT_OMISSIONS.list()})
            if method == "DELETE":
                faults.SNAPSHOT_OMISSIONS.clear(account)
                return _json_response(start_response, 200, {"cleared": True})
        if path == "/pitr":
            if method == "POST":
                if body.get("lag_seconds") is None and body.get("retention_seconds") is None:
                    raise ValueError("say lag_seconds (and/or retention_seconds)")
                settings = pitr.SETTINGS.set(account, body.get("lag_seconds"), body.get("retention_seconds"))
                return _json_response(start_response, 200, settings)
            if method == "GET":
                return _json_response(start_response, 200, {**pitr.SETTINGS.get(account),
                                                            "default_lag_seconds": pitr.DEFAULT_LAG_SECONDS,
                                                            "tables": pitr.all_stats(account)})
            if method == "DELETE":
                pitr.SETTINGS.clear(account)
                return _json_response(start_response, 200, {"reset": True})
        if path == "/exports":
            if method == "POST":
                if body.get("items_per_file") is None:
                    raise ValueError("say items_per_file")
                return _json_response(start_response, 200, exports.SETTINGS.set(account, body["items_per_file"]))
            if method == "GET":
                listed = [{"arn": e.arn, "account": e.account, "region": e.region, "table_arn": e.table_arn,
                           "status": e.life._status, "export_time": e.export_time,
                           "manifest": e.manifest_key} for e in exports.all_exports(account)]
                return _json_response(start_response, 200, {**exports.SETTINGS.get(account), "exports": listed})
            if method == "DELETE":
                exports.SETTINGS.clear(account)
                return _json_response(start_response, 200, {"reset": True})
        if path == "/backups/cut":
            if method == "POST":
                return _json_response(start_response, 200, {"rule": pitr.CUT_RULES.add(body)})
            if method == "GET":
                return _json_response(start_response, 200, {"rules": pitr.CUT_RULES.list()})
            if method == "DELETE":
                pitr.CUT_RULES.clear(account)
                return _json_response(start_response, 200, {"cleared": True})
        if path == "/restores/overlap":
            if method == "GET":
                return _json_response(start_response, 200, overlap.RESTORES.get(account))
            if method == "DELETE":
                overlap.RESTORES.reset(account)
                return _json_response(start_response, 200, {"reset": True})
        if path == "/quotas":
            if method == "POST":
                return _json_response(start_response, 200, quotas.QUOTAS.set(account, body))
            if method == "GET":
                return _json_response(start_response, 200, quotas.QUOTAS.get(account))
            if method == "DELETE":
                quotas.QUOTAS.reset(account)
                return _json_response(start_response, 200, {"reset": True})
        if path == "/restores/corrupt":
            if method == "POST":
                return _json_response(start_response, 200, {"rule": RESTORE_CORRUPTIONS.add(body)})
            if method == "GET":
                return _json_response(start_response, 200, RESTORE_CORRUPTIONS.list(account))
            if method == "DELETE":
                RESTORE_CORRUPTIONS.clear(account)
                return _json_response(start_response, 200, {"cleared": True})
        if path == "/cfn/fail":
            if method == "POST":
                return _json_response(start_response, 200, {"rule": faults.RESOURCE_FAILURES.add(body)})
            if method == "GET":
                return _json_response(start_response, 200, {"rules": faults.RESOURCE_FAILURES.list()})
            if method == "DELETE":
                faults.RESOURCE_FAILURES.clear(account)
                return _json_response(start_response, 200, {"cleared": True})
        if path == "/iam/enforce":
            if method == "POST":
                return _json_response(start_response, 200, {"rule": iam_enforce.ENFORCEMENT.add(body)})
            if method == "GET":
                return _json_response(start_response, 200, {"rules": iam_enforce.ENFORCEMENT.list(account)})
            if method == "DELETE":
                removed = iam_enforce.ENFORCEMENT.clear(account, query.get("id") or body.get("id"))
                return _json_response(start_response, 200, {"removed": removed})
        if path == "/iam/decisions":
            if method == "GET":
                denied = (query.get("denied") or "").lower() in ("1", "true", "yes")
                return _json_response(start_response, 200,
                                      {"decisions": iam_enforce.ENFORCEMENT.log(account, denied)})
            if method == "DELETE":
                iam_enforce.ENFORCEMENT.forget(account)
                return _json_response(start_response, 200, {"cleared": True})
        if path == "/sts/trust":
            if method == "POST":
                return _json_response(start_response, 200, {"accounts": sts_trust.TRUST.add(account)})
            if method == "GET":
                return _json_response(start_response, 200, {"accounts": sts_trust.TRUST.list()})
            if method == "DELETE":
                if not account:
                    raise ValueError("say ?account= (the 12-digit account to turn off)")
                removed = sts_trust.TRUST.remove(account)
                return _json_response(start_response, 200, {"removed": removed, "accounts": sts_trust.TRUST.list()})
        if path == "/iam/evaluate" and method == "POST":
            return _json_response(start_response, 200, iam_enforce.evaluate_spec(body))
        if path == "/reset" and method == "POST":
            iam_enforce.ENFORCEMENT.clear(account)
            sts_trust.TRUST.remove(account)
            from .backup_models import GLOBAL_SETTINGS

            GLOBAL_SETTINGS.reset(account)
            faults.FAULTS.clear(account)
            faults.JOB_FAILURES.clear(account)
            faults.RESOURCE_FAILURES.clear(account)
            faults.SNAPSHOT_OMISSIONS.clear(account)
            faults.CALLS.clear(account)
            lifecycle.reset_progression(account)
            pitr.reset(account)
            exports.reset(account)
            RESTORE_CORRUPTIONS.clear(account)
            overlap.RESTORES.reset(account)
            quotas.QUOTAS.reset(account)
            return _json_response(start_response, 200, {"reset": True, "account": account})
    except ValueError as err:
        return _json_response(start_response, 400, {"error": str(err)})
    return _json_response(start_response, 404, {"error": f"no control endpoint {method} {path}"})


# ---------------------------------------------------------------------------


class DrctlApp:
    """Control API + counters + faults in front of moto's application."""

    def __init__(self, moto_app: Callable):
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Callable):
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return handle_control(environ, start_response)
        service = service_of(environ)
        if service:
            operation = operation_of(environ, service)
            account = account_of(environ)
            faults.CALLS.count(account, service, operation)
            if iam_enforce.ENFORCEMENT.active():
                denied = iam_enforce.check(environ, service, operation, account, _read_body(environ))
                if denied is not None:
                    status, headers, body = denied
                    headers["Content-Length"] = str(len(body))
                    start_response(f"{status} {_REASONS.get(status, 'Denied')}", list(headers.items()))
                    return [body]
            if service == "sts" and operation == "AssumeRole" and sts_trust.TRUST.active():
                denied = sts_trust.check(environ, account, _read_body(environ))
                if denied is not None:
                    status, headers, body = denied
                    headers["Content-Length"] = str(len(body))
                    start_response(f"{status} {_REASONS.get(status, 'Denied')}", list(headers.items()))
                    return [body]
            latency, rule, omitted = faults.FAULTS.decide(service, operation, account)
            if latency:
                time.sleep(latency / 1000.0)
            if rule is not None:
                protocol = PROTOCOLS.get(service, "rest-json")
                status, headers, body = faults.error_response(protocol, service, rule)
                headers["Content-Length"] = str(len(body))
                start_response(f"{status} Injected", list(headers.items()))
                return [body]
            if omitted:
                return self._without(environ, start_response, omitted)
        return self.moto_app(environ, start_response)

    def _without(self, environ: dict[str, Any], start_response: Callable, fields: list[str]) -> list[bytes]:
        """moto's answer with `fields` dropped from its top-level JSON object."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.moto_app(environ, capture))
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            for field in fields:
                answer.pop(field, None)
            body = json.dumps(answer).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]
