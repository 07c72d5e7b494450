"""DynamoDB ExportTableToPointInTime / DescribeExport / ListExports: the
table as of ExportTime, AWS's layout in moto's S3, the life cycle, failures,
and ClientToken idempotency."""

import base64
import gzip
import hashlib
import json
import time

import pytest
from botocore.exceptions import ClientError
from conftest import make_table



def bucket_of(aws):
    """Bucket names are global (moto too): one per test account."""
    return f"drctl-exports-{aws.account}"


def enable(ddb, name):
    ddb.update_continuous_backups(TableName=name,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def tick():
    time.sleep(0.02)
    at = time.time()
    time.sleep(0.02)
    return at


def read_export(s3, bucket, manifest_key):
    """Follows the manifests as a reader must: summary -> files -> data."""
    summary = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    lines = s3.get_object(Bucket=bucket, Key=summary["manifestFilesS3Key"])["Body"].read().decode().splitlines()
    files = [json.loads(line) for line in lines]
    items = []
    for f in files:
        body = s3.get_object(Bucket=bucket, Key=f["dataFileS3Key"])["Body"].read()
        assert base64.b64encode(hashlib.md5(body).digest()).decode() == f["md5Checksum"]
        rows = [json.loads(r) for r in gzip.decompress(body).decode().splitlines()]
        assert len(rows) == f["itemCount"]
        items.extend(r["Item"] for r in rows)
    return summary, files, items


def test_export_writes_the_table_as_of_export_time_in_aws_layout(aws, control):
    """ExportTime: "Time in the past from which to export table data ... The
    table export will be a snapshot of the table's state at this point in
    time." (ExportTableToPointInTime - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html.)
    Layout: "export-prefix/AWSDynamoDB/ExportId/manifest-summary.json ...
    manifest-files.json", "an empty file named _started in the same
    directory as the manifest files", the summary's fields (version
    2020-06-30, exportArn, startTime, endTime, tableArn, tableId,
    exportTime, s3Bucket, s3Prefix, s3SseAlgorithm, s3SseKmsKeyId,
    manifestFilesS3Key, billedSizeBytes, itemCount, outputFormat), the files
    manifest in JSON lines (itemCount, md5Checksum, etag, dataFileS3Key),
    data "written to multiple compressed files named by the keys found in
    the manifest-files.json file", each item in "DynamoDB's standard
    marshalled JSON format" as {"Item": ...} JSON lines (DynamoDB table
    export output format - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html).
    DescribeExport: ExportManifest "The name of the manifest file for the
    export task.", ItemCount, BilledSizeBytes, StartTime, EndTime, ExportTime
    (ExportDescription - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportDescription.html)."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    BUCKET = bucket_of(aws)
    arn = make_table(ddb, "orders", 5)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "bin"}, "b": {"B": b"\x00\xffraw"},
                                           "m": {"M": {"l": {"L": [{"N": "1"}, {"BS": [b"x"]}]}}}})
    enable(ddb, "orders")
    s3.create_bucket(Bucket=BUCKET)
    control.post("/exports", {"account": aws.account, "items_per_file": 2})
    at = tick()
    ddb.put_item(TableName="orders", Item={"pk": {"S": "late"}})
    ddb.delete_item(TableName="orders", Key={"pk": {"S": "item-0"}})

    started = ddb.export_table_to_point_in_time(TableArn=arn, ExportTime=at, S3Bucket=BUCKET,
                                                S3Prefix="drills/run-1", S3SseAlgorithm="AES256")
    desc = ddb.describe_export(ExportArn=started["ExportDescription"]["ExportArn"])["ExportDescription"]
    assert desc["ExportStatus"] == "COMPLETED"
    export_id = desc["ExportArn"].rsplit("/", 1)[1]
    assert desc["ExportArn"] == f"{arn}/export/{export_id}"
    assert desc["ExportManifest"] == f"drills/run-1/AWSDynamoDB/{export_id}/manifest-summary.json"
    assert desc["ExportTime"].timestamp() == pytest.approx(at, abs=0.002)
    assert desc["StartTime"] <= desc["EndTime"]
    assert (desc["ItemCount"], desc["S3Bucket"], desc["S3Prefix"]) == (6, BUCKET, "drills/run-1")
    assert (desc["ExportFormat"], desc["ExportType"], desc["S3SseAlgorithm"]) == ("DYNAMODB_JSON", "FULL_EXPORT", "AES256")
    assert desc["BilledSizeBytes"] > 0 and desc["TableId"]

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    base = f"drills/run-1/AWSDynamoDB/{export_id}"
    for name in ("_started", "manifest-summary.json", "manifest-summary.md5", "manifest-files.json",
                 "manifest-files.md5"):
        assert f"{base}/{name}" in keys
    summary, files, items = read_export(s3, BUCKET, desc["ExportManifest"])
    assert {k for k in summary} >= {"version", "exportArn", "startTime", "endTime", "tableArn", "tableId",
                                    "exportTime", "s3Bucket", "s3Prefix", "s3SseAlgorithm", "s3SseKmsKeyId",
                                    "manifestFilesS3Key", "billedSizeBytes", "itemCount", "outputFormat",
                                    "exportType"}
    assert (summary["version"], summary["exportArn"], summary["tableArn"]) == ("2020-06-30", desc["ExportArn"], arn)
    assert (summary["itemCount"], summary["outputFormat"], summary["s3Bucket"]) == (6, "DYNAMODB_JSON", BUCKET)
    assert summary["exportTime"].endswith("Z") and summary["manifestFilesS3Key"] == f"{base}/manifest-files.json"
    md5 = s3.get_object(Bucket=BUCKET, Key=f"{base}/manifest-summary.md5")["Body"].read().decode()
    raw = s3.get_object(Bucket=BUCKET, Key=desc["ExportManifest"])["Body"].read()
    assert md5 == hashlib.md5(raw).hexdigest()
    assert [f["itemCount"] for f in files] == [2, 2, 2], "at most items_per_file per data file"
    assert all(f["dataFileS3Key"].startswith(f"{base}/data/") and f["dataFileS3Key"].endswith(".json.gz")
               for f in files)
    by_key = {i["pk"]["S"]: i for i in items}
    assert set(by_key) == {"item-0", "item-1", "item-2", "item-3", "item-4", "bin"}, "as of ExportTime"
    assert by_key["item-3"] == {"pk": {"S": "item-3"}, "v": {"N": "3"}}
    assert base64.b64decode(by_key["bin"]["b"]["B"]) == b"\x00\xffraw", "binary as base64"
    assert by_key["bin"]["m"]["M"]["l"]["L"][1] == {"BS": [base64.b64encode(b"x").decode()]}

    listed = ddb.list_exports(TableArn=arn)["ExportSummaries"]
    assert listed == [{"ExportArn": desc["ExportArn"], "ExportStatus": "COMPLETED", "ExportType": "FULL_EXPORT"}]


def test_export_time_defaults_to_now_and_the_prefix_is_optional(aws):
    """ExportTableToPointInTime: S3Prefix "Required: No"; ExportTime
    "Required: No" (the export is then of the current time) (ExportTableToPointInTime
    - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html).
    "The export creates at least 1 file per partition. For partitions that
    are empty, your export request will create an empty file." (DynamoDB
    table export output format,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html.)"""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    BUCKET = bucket_of(aws)
    arn = make_table(ddb, "now", 2)
    enable(ddb, "now")
    s3.create_bucket(Bucket=BUCKET)
    ddb.put_item(TableName="now", Item={"pk": {"S": "fresh"}})
    desc = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET)["ExportDescription"]
    assert desc["ExportStatus"] == "COMPLETED" and "S3Prefix" not in desc
    assert desc["ExportManifest"].startswith("AWSDynamoDB/")
    _, _, items = read_export(s3, BUCKET, desc["ExportManifest"])
    assert {i["pk"]["S"] for i in items} == {"item-0", "item-1", "fresh"}

    empty = make_table(ddb, "empty", 0)
    enable(ddb, "empty")
    desc = ddb.export_table_to_point_in_time(TableArn=empty, S3Bucket=BUCKET, S3Prefix="e")["ExportDescription"]
    _, files, items = read_export(s3, BUCKET, desc["ExportManifest"])
    assert (len(files), files[0]["itemCount"], items, desc["ItemCount"]) == (1, 0, [], 0)


def test_export_errors(aws):
    """Errors of ExportTableToPointInTime: "PointInTimeRecoveryUnavailableException
    Point in time recovery has not yet been enabled for this source table."
    and "InvalidExportTimeException The specified ExportTime is outside of
    the point in time recovery window." ("The table must have point in time
    recovery enabled, and you can export data from any time within the point
    in time recovery window.") (ExportTableToPointInTime - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html.)
    ION and INCREMENTAL_EXPORT are valid on AWS; the emulator refuses them
    with a ValidationException that names itself."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    BUCKET = bucket_of(aws)
    s3.create_bucket(Bucket=BUCKET)
    plain = make_table(ddb, "plain", 1)
    with pytest.raises(ClientError) as err:
        ddb.export_table_to_point_in_time(TableArn=plain, S3Bucket=BUCKET)
    assert err.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"
    arn = make_table(ddb, "pitr", 1)
    before = time.time() - 10
    enable(ddb, "pitr")
    for when in (before, time.time() + 600):
        with pytest.raises(ClientError) as err:
            ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, ExportTime=when)
        assert err.value.response["Error"]["Code"] == "InvalidExportTimeException"
    for extra in ({"ExportFormat": "ION"}, {"ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": {
            "ExportFromTime": before, "ExportToTime": time.time()}}):
        with pytest.raises(ClientError) as err:
            ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, **extra)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert "emulator" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        ddb.describe_export(ExportArn=f"{arn}/export/01234567890123-deadbeef")
    assert err.value.response["Error"]["Code"] == "ExportNotFoundException"
    assert ddb.list_exports(TableArn=arn)["ExportSummaries"] == []


def test_a_missing_bucket_ends_the_export_failed(aws):
    """ExportStatus: "Export can be in one of the following states:
    IN_PROGRESS, COMPLETED, or FAILED."; FailureCode "Status code for the
    result of the failed export."; FailureMessage "Export failure reason
    description." (ExportDescription - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportDescription.html.)
    The bucket is written once the export has begun ("_started ... verifies
    that the destination bucket is writable and that the export has begun",
    DynamoDB table export output format,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html),
    so the request is accepted and the export fails. The code
    (S3NoSuchBucket) and message are those moto uses; AWS's docs do not
    list failure codes."""
    ddb = aws.client("dynamodb")
    arn = make_table(ddb, "lost", 1)
    enable(ddb, "lost")
    desc = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="no-such-bucket-drctl")["ExportDescription"]
    desc = ddb.describe_export(ExportArn=desc["ExportArn"])["ExportDescription"]
    assert desc["ExportStatus"] == "FAILED"
    assert (desc["FailureCode"], desc["FailureMessage"]) == ("S3NoSuchBucket", "The specified bucket does not exist")
    assert "ExportManifest" not in desc and "ItemCount" not in desc


def test_export_life_cycle_and_injected_failure(aws, control):
    """An export is IN_PROGRESS until it ends COMPLETED or FAILED
    (ExportStatus, ExportDescription - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportDescription.html);
    EndTime "The time at which the export task completed." appears then.
    A job-failure rule of kind export makes one fail with FailureCode and
    FailureMessage and writes nothing."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    BUCKET = bucket_of(aws)
    arn = make_table(ddb, "slow", 3)
    enable(ddb, "slow")
    s3.create_bucket(Bucket=BUCKET)
    control.post("/jobs/progression", {"account": aws.account, "kind": "export", "mode": "manual", "steps": 1})
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, S3Prefix="slow")["ExportDescription"]
    assert started["ExportStatus"] == "IN_PROGRESS" and "EndTime" not in started
    ddb.put_item(TableName="slow", Item={"pk": {"S": "after-request"}})
    first = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert first["ExportStatus"] == "IN_PROGRESS"
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    done = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert done["ExportStatus"] == "COMPLETED" and "EndTime" in done
    _, _, items = read_export(s3, BUCKET, done["ExportManifest"])
    assert {i["pk"]["S"] for i in items} == {"item-0", "item-1", "item-2"}, "as of the request"

    with pytest.raises(urllib_error()):
        control.post("/jobs/fail", {"account": aws.account, "kind": "nonsense", "next": True})
    control.post("/jobs/fail", {"account": aws.account, "kind": "export", "resource_arn": arn,
                                "code": "S3AccessDenied", "message": "Access Denied"})
    failed = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, S3Prefix="doomed")["ExportDescription"]
    states = [ddb.describe_export(ExportArn=failed["ExportArn"])["ExportDescription"] for _ in range(2)]
    assert [s["ExportStatus"] for s in states] == ["IN_PROGRESS", "FAILED"]
    assert (states[1]["FailureCode"], states[1]["FailureMessage"]) == ("S3AccessDenied", "Access Denied")
    assert not [o for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"] if o["Key"].startswith("doomed/")]
    statuses = {e["ExportArn"]: e["ExportStatus"] for e in ddb.list_exports(TableArn=arn)["ExportSummaries"]}
    assert statuses == {started["ExportArn"]: "COMPLETED", failed["ExportArn"]: "FAILED"}


def urllib_error():
    import urllib.error

    return urllib.error.HTTPError


def test_client_token_makes_the_export_idempotent(aws):
    """"Providing a ClientToken makes the call to
    ExportTableToPointInTimeInput idempotent, meaning that multiple
    identical calls have the same effect as one single call." "If you submit
    a request with the same client token but a change in other parameters
    within the 8-hour idempotency window, DynamoDB returns an
    ExportConflictException." (ClientToken, ExportTableToPointInTime in the
    DynamoDB API model that the AWS SDKs ship; the web page of
    ExportTableToPointInTime - Amazon DynamoDB,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ExportTableToPointInTime.html,
    names ImportConflictException there, an error the operation does not
    declare.)"""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    BUCKET = bucket_of(aws)
    arn = make_table(ddb, "tok", 1)
    enable(ddb, "tok")
    s3.create_bucket(Bucket=BUCKET)
    request = dict(TableArn=arn, S3Bucket=BUCKET, S3Prefix="p", ClientToken="drill-42")
    first = ddb.export_table_to_point_in_time(**request)["ExportDescription"]
    again = ddb.export_table_to_point_in_time(**request)["ExportDescription"]
    assert again["ExportArn"] == first["ExportArn"] and again["ClientToken"] == "drill-42"
    assert len(ddb.list_exports(TableArn=arn)["ExportSummaries"]) == 1
    with pytest.raises(ClientError) as err:
        ddb.export_table_to_point_in_time(**{**request, "S3Prefix": "other"})
    assert err.value.response["Error"]["Code"] == "ExportConflictException"
    other = ddb.export_table_to_point_in_time(**{**request, "ClientToken": "drill-43"})["ExportDescription"]
    assert other["ExportArn"] != first["ExportArn"]
