"""DynamoDB ExportTableToPointInTime, DescribeExport and ListExports as AWS
does them, from the PITR history (pitr.py), into moto's S3.

moto's own export copies the table as it is now into one S3 object, requires
``S3Prefix``, ignores ``ExportTime`` and ``ClientToken``, and has no manifest.
drctl compares a restored table with exports of the source at the edges of
a backup's consistency window and reads them through their manifests, so:

- ``ExportTime`` (default: now) must lie in the PITR window
  [EarliestRestorableDateTime, now] (else ``InvalidExportTimeException``);
  a table without PITR is ``PointInTimeRecoveryUnavailableException``. The
  contents are the table as of ``ExportTime``, taken from the history when
  the export is requested.
- The export is a job (lifecycle kind ``export``): IN_PROGRESS, then
  COMPLETED or FAILED. It writes to S3 when it ends; a bucket that does not
  exist (in ``S3BucketOwner``'s account, default the caller's) ends it
  FAILED with ``FailureCode`` ``S3NoSuchBucket``. A job-failure rule (kind
  ``export``) ends it FAILED with the rule's message (and ``code``).
- The layout under ``[S3Prefix/]AWSDynamoDB/<ExportId>/``: ``_started``,
  ``data/<name>.json.gz`` (gzip'd DynamoDB JSON lines ``{"Item": {...}}``,
  at most ``items_per_file`` items each, at least one file),
  ``manifest-files.json`` (JSON lines: itemCount, md5Checksum, etag,
  dataFileS3Key), ``manifest-summary.json``, each manifest with a ``.md5``
  and a ``.checksum`` file (hex MD5 of the manifest).
- ``ClientToken``: the same token with the same parameters answers the
  first export (for 8 hours after it ended); with other parameters it is
  ``ExportConflictException``.
- ``ExportFormat`` ION, ``ExportType`` INCREMENTAL_EXPORT and a
  ``FilterSpecification`` are refused (ValidationException naming the
  emulator).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import (
    ERROR_TYPE_PREFIX,
    MockValidationException,
    PointInTimeRecoveryUnavailable,
    TableNotFoundException,
)
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.moto_api._internal import mock_random

from . import faults, pitr
from .lifecycle import TERMINAL, JobLifecycle

LOCK = threading.RLock()

DEFAULT_ITEMS_PER_FILE = 1000

# "A client token is valid for 8 hours after the first request that uses it
# is completed." (ExportTableToPointInTime, DynamoDB API Reference.)
CLIENT_TOKEN_TTL = 8 * 3600


class InvalidExportTimeException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__(ERROR_TYPE_PREFIX + "InvalidExportTimeException", message)


class ExportConflictException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__(ERROR_TYPE_PREFIX + "ExportConflictException", message)


class ExportNotFoundException(JsonRESTError):
    def __init__(self, arn: str):
        super().__init__(ERROR_TYPE_PREFIX + "ExportNotFoundException", f"Export not found: {arn}")


# ---------------------------------------------------------------------------
# Settings (control API: /_drctl/exports)


class Settings:
    def __init__(self) -> None:
        self.items_per_file: dict[str | None, int] = {}

    def set(self, account: str | None, items_per_file: Any) -> dict[str, Any]:
        n = int(items_per_file)
        if n < 1:
            raise ValueError("items_per_file must be at least 1")
        with LOCK:
            self.items_per_file[account] = n
        return self.get(account)

    def items_for(self, account: str | None) -> int:
        with LOCK:
            if account in self.items_per_file:
                return self.items_per_file[account]
            return self.items_per_file.get(None, DEFAULT_ITEMS_PER_FILE)

    def get(self, account: str | None) -> dict[str, Any]:
        return {"account": account, "items_per_file": self.items_for(account)}

    def clear(self, account: str | None = None) -> None:
        with LOCK:
            if account is None:
                self.items_per_file.clear()
            else:
                self.items_per_file.pop(account, None)


SETTINGS = Settings()


# ---------------------------------------------------------------------------


def _iso(ts: float) -> str:
    """AWS's manifest timestamps: 2020-11-04T07:28:34.028Z."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


def table_id(table: Any) -> str:
    """A stable id per table (moto has none)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{table.table_arn}@{table.created_at.isoformat()}"))


class ExportFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Export:
    kind = "export"

    def __init__(self, backend: Any, table: Any, items: list[Any], export_time: float,
                 params: dict[str, Any], client_token: str | None):
        self.account = backend.account_id
        self.region = backend.region_name
        self.start_time = time.time()
        self.export_id = f"{int(self.start_time * 1000):014d}-{mock_random.get_random_hex(8)}"
        self.arn = f"{table.table_arn}/export/{self.export_id}"
        self.table_arn = table.table_arn
        self.resource_arn = table.table_arn  # for job-failure rules
        self.job_id = self.arn
        self.table_id = table_id(table)
        self.export_time = export_time
        self.client_token = client_token
        self.params = params
        self.s3_bucket = params["S3Bucket"]
        self.s3_bucket_owner = params.get("S3BucketOwner")
        self.s3_prefix = params.get("S3Prefix")
        self.s3_sse_algorithm = params.get("S3SseAlgorithm")
        self.s3_sse_kms_key_id = params.get("S3SseKmsKeyId")
        self.export_format = params.get("ExportFormat") or "DYNAMODB_JSON"
        self.export_type = params.get("ExportType") or "FULL_EXPORT"
        self.items: list[Any] | None = items
        self.items_per_file = SETTINGS.items_for(self.account)
        self.end_time: float | None = None
        self.manifest_key: str | None = None
        self.item_count: int | None = None
        self.billed_size: int | None = None
        self.failure_code: str | None = None
        self.failure_message: str | None = None
        self.fail_message: str | None = None
        self.fail_code: str | None = None
        self.life = JobLifecycle("export", self.account)
        self._settled = False

    # -- life cycle ---------------------------------------------------------
    def doom(self, message: str, code: str | None = None) -> None:
        if self._settled:
            return
        self.fail_message = message
        self.fail_code = code
        self.life.doom()

    @property
    def status(self) -> str:
        with LOCK:
            return self._settle(self.life.status)

    def observe(self) -> str:
        with LOCK:
            return self._settle(self.life.observe())

    def _settle(self, current: str | None) -> str:
        if current in TERMINAL and not self._settled:
            self._settled = True
            self.end_time = time.time()
            if current == "COMPLETED":
                try:
                    self._write()
                except ExportFailed as err:
                    current = self._fail(err.code, err.message)
                except Exception as err:  # noqa: BLE001 - the export fails with the reason
                    current = self._fail("UNKNOWN", str(getattr(err, "message", err)))
            else:
                current = self._fail(self.fail_code or "UNKNOWN", self.fail_message or "Export failed")
            self.items = None
        return current or ""

    def _fail(self, code: str, message: str) -> str:
        self.life.status = "FAILED"
        self.failure_code = code
        self.failure_message = message
        self.manifest_key = None
        self.item_count = None
        self.billed_size = None
        return "FAILED"

    # -- the S3 objects -----------------------------------------------------
    @property
    def base_key(self) -> str:
        prefix = (self.s3_prefix or "").strip("/")
        return f"{prefix}/AWSDynamoDB/{self.export_id}" if prefix else f"AWSDynamoDB/{self.export_id}"

    def _s3(self) -> Any:
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        owner = self.s3_bucket_owner or self.account
        try:
            backend = s3_backends[owner][get_partition(self.region)]
        except KeyError:
            backend = None
        if backend is None or self.s3_bucket not in backend.buckets:
            raise ExportFailed("S3NoSuchBucket", "The specified bucket does not exist")
        return backend

    def _put(self, s3: Any, key: str, body: bytes) -> Any:
        encryption = {"AES256": "AES256", "KMS": "aws:kms"}.get(self.s3_sse_algorithm or "")
        return s3.put_object(self.s3_bucket, key, body, encryption=encryption,
                             kms_key_id=self.s3_sse_kms_key_id if encryption == "aws:kms" else None)

    def _write(self) -> None:
        s3 = self._s3()
        base = self.base_key
        self._put(s3, f"{base}/_started", b"")
        items = self.items or []
        per_file = max(1, self.items_per_file)
        chunks = [items[i:i + per_file] for i in range(0, len(items), per_file)] or [[]]
        files = []
        billed = 0
        for chunk in chunks:
            lines = "".join(dynamo_json_dump(item.to_json(root_attr_name="Item")) + "\n" for item in chunk)
            raw = lines.encode("utf-8")
            billed += len(raw)
            body = gzip.compress(raw, mtime=0)
            name = base64.b32encode(uuid.uuid4().bytes).decode().rstrip("=").lower()[:26]
            key = f"{base}/data/{name}.json.gz"
            stored = self._put(s3, key, body)
            files.append({
                "itemCount": len(chunk),
                "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),
                "etag": str(stored.etag).strip('"'),
                "dataFileS3Key": key,
            })
        manifest_files = "".join(json.dumps(f) + "\n" for f in files).encode()
        files_key = f"{base}/manifest-files.json"
        self._put(s3, files_key, manifest_files)
        self._checksums(s3, f"{base}/manifest-files", manifest_files)
        self.item_count = len(items)
        self.billed_size = billed
        summary = {
            "version": "2020-06-30",
            "exportArn": self.arn,
            "startTime": _iso(self.start_time),
            "endTime": _iso(self.end_time or time.time()),
            "tableArn": self.table_arn,
            "tableId": self.table_id,
            "exportTime": _iso(self.export_time),
            "s3Bucket": self.s3_bucket,
            "s3Prefix": self.s3_prefix,
            "s3SseAlgorithm": self.s3_sse_algorithm,
            "s3SseKmsKeyId": self.s3_sse_kms_key_id,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": billed,
            "itemCount": len(items),
            "outputFormat": self.export_format,
            "exportType": self.export_type,
        }
        body = json.dumps(summary, indent=2).encode()
        summary_key = f"{base}/manifest-summary.json"
        self._put(s3, summary_key, body)
        self._checksums(s3, f"{base}/manifest-summary", body)
        self.manifest_key = summary_key

    def _checksums(self, s3: Any, stem: str, body: bytes) -> None:
        digest = hashlib.md5(body).hexdigest().encode()
        self._put(s3, f"{stem}.md5", digest)
        self._put(s3, f"{stem}.checksum", digest)

    # -- answers ------------------------------------------------------------
    def describe(self, state: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ExportArn": self.arn,
            "ExportStatus": state,
            "StartTime": self.start_time,
            "TableArn": self.table_arn,
            "TableId": self.table_id,
            "ExportTime": self.export_time,
            "S3Bucket": self.s3_bucket,
            "ExportFormat": self.export_format,
            "ExportType": self.export_type,
        }
        optional = {
            "EndTime": self.end_time,
            "ExportManifest": self.manifest_key,
            "ClientToken": self.client_token,
            "S3BucketOwner": self.s3_bucket_owner,
            "S3Prefix": self.s3_prefix,
            "S3SseAlgorithm": self.s3_sse_algorithm,
            "S3SseKmsKeyId": self.s3_sse_kms_key_id,
            "FailureCode": self.failure_code,
            "FailureMessage": self.failure_message,
            "ItemCount": self.item_count,
            "BilledSizeBytes": self.billed_size,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def summary(self, state: str) -> dict[str, Any]:
        return {"ExportArn": self.arn, "ExportStatus": state, "ExportType": self.export_type}


# ---------------------------------------------------------------------------
# Per account and region


class ExportState:
    def __init__(self) -> None:
        self.exports: dict[str, Export] = {}
        self.tokens: dict[str, tuple[dict[str, Any], str]] = {}


def state_of(backend: Any) -> ExportState:
    state = backend.__dict__.get("_drctl_exports")
    if state is None:
        state = backend.__dict__.setdefault("_drctl_exports", ExportState())
    return state


def all_exports(account: str | None = None):
    from moto.dynamodb.models import dynamodb_backends

    for acct, regions in list(dynamodb_backends.items()):
        if account and acct != account:
            continue
        for region in list(regions.keys()):
            state = regions[region].__dict__.get("_drctl_exports")
            if state is not None:
                yield from list(state.exports.values())


PARAMS = ("TableArn", "ExportTime", "S3Bucket", "S3BucketOwner", "S3Prefix", "S3SseAlgorithm",
          "S3SseKmsKeyId", "ExportFormat", "ExportType", "IncrementalExportSpecification")


def start_export(backend: Any, body: dict[str, Any]) -> Export:
    params = {k: body.get(k) for k in PARAMS if body.get(k) is not None}
    if "ExportTime" in params:
        params["ExportTime"] = _epoch(params["ExportTime"])
    table_arn = params.get("TableArn")
    if not table_arn:
        raise MockValidationException("TableArn is required")
    if not params.get("S3Bucket"):
        raise MockValidationException("S3Bucket is required")
    table = next((t for t in backend.tables.values() if t.table_arn == table_arn), None)
    if table is None:
        raise TableNotFoundException(name=table_arn)
    if params.get("ExportFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise MockValidationException(
            f"ExportFormat {params['ExportFormat']} is not supported by drctl's emulator "
            "(DYNAMODB_JSON only)"
        )
    if body.get("FilterSpecification"):
        raise MockValidationException("FilterSpecification is not supported by drctl's emulator")
    if params.get("ExportType", "FULL_EXPORT") != "FULL_EXPORT":
        raise MockValidationException(
            f"ExportType {params['ExportType']} is not supported by drctl's emulator (FULL_EXPORT only)"
        )
    state = state_of(backend)
    token = body.get("ClientToken")
    with LOCK:
        if token:
            seen = state.tokens.get(token)
            if seen is not None:
                first = state.exports.get(seen[1])
                expired = (first is not None and first.end_time is not None
                           and time.time() - first.end_time > CLIENT_TOKEN_TTL)
                if first is not None and not expired:
                    if seen[0] != params:
                        raise ExportConflictException(
                            f"ClientToken {token} was already used for an export with different parameters"
                        )
                    return first
        history = pitr.ensure_history(table)
        if history is None:
            raise PointInTimeRecoveryUnavailable(name=table.name)
        earliest, _ = pitr.window(table)
        now = time.time()
        export_time = params.get("ExportTime", now)
        if export_time < earliest or export_time > now:
            raise InvalidExportTimeException(
                f"Export time {_iso(export_time)} is outside the point in time recovery window "
                f"[{_iso(earliest)}, {_iso(now)}] of table {table.name}"
            )
        export = Export(backend, table, history.items_at(export_time), export_time, params, token)
        state.exports[export.arn] = export
        if token:
            state.tokens[token] = (params, export.arn)
    faults.JOB_FAILURES.apply(export, {"resource_arn": table.table_arn})
    export.status  # noqa: B018 - immediate mode ends here
    return export


def get_export(backend: Any, arn: str) -> Export:
    export = state_of(backend).exports.get(arn)
    if export is None:
        raise ExportNotFoundException(arn)
    return export


# ---------------------------------------------------------------------------
# Handlers (replace DynamoHandler's)


def export_table_to_point_in_time(self: Any) -> ActionResult:
    export = start_export(self.dynamodb_backend, self.body)
    return ActionResult({"ExportDescription": export.describe(export.status)})


def describe_export(self: Any) -> ActionResult:
    export = get_export(self.dynamodb_backend, self.body.get("ExportArn"))
    return ActionResult({"ExportDescription": export.describe(export.observe())})


def list_exports(self: Any) -> ActionResult:
    table_arn = self.body.get("TableArn")
    exports = [e for e in state_of(self.dynamodb_backend).exports.values()
               if not table_arn or e.table_arn == table_arn]
    start = int(self.body.get("NextToken") or 0)
    size = int(self.body.get("MaxResults") or 25)
    page = exports[start:start + size]
    out: dict[str, Any] = {"ExportSummaries": [e.summary(e.status) for e in page]}
    if start + size < len(exports):
        out["NextToken"] = str(start + size)
    return ActionResult(out)


def reset(account: str | None = None) -> None:
    SETTINGS.clear(account)


def install() -> None:
    from moto.dynamodb.responses import DynamoHandler

    DynamoHandler.export_table_to_point_in_time = export_table_to_point_in_time
    DynamoHandler.describe_export = describe_export
    DynamoHandler.list_exports = list_exports
