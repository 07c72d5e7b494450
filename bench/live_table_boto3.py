"""The live-table benchmark's Python side (bench/live-table.sh runs it).

    prepare SOURCE RESTORED CHANGES   PITR on SOURCE, CHANGES updates, then
                                      RESTORED = SOURCE as of before them;
                                      prints {"from": ..., "to": ...}
    compare SOURCE RESTORED FROM TO BUCKET SEGMENTS
                                      the baseline: what a user would write
                                      with boto3 to do drctl's comparison

`compare` exports SOURCE at FROM and at TO into BUCKET (as drctl does),
reads both exports into dictionaries (key -> SHA-256 of the item's
canonical encoding, the same encoding as bench/fingerprint_boto3.py),
scans RESTORED in SEGMENTS parallel threads, and judges it as drctl does:
an item identical at both instants must be restored exactly, an item that
changed between them in one of its two states. It prints the counts, which
bench/live-table.sh checks against drctl's.
"""

import gzip
import hashlib
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone

import boto3

sys.path.insert(0, os.path.dirname(__file__))
from fingerprint_boto3 import ENDPOINT, REGION, client, encode_item  # noqa: E402


def s3():
    return boto3.session.Session().client("s3", endpoint_url=ENDPOINT, region_name=REGION)


def digest(item):
    out = bytearray()
    encode_item(item, out)
    return hashlib.sha256(out).digest()


def key(item):
    return (item["pk"]["S"], item["sk"]["S"])


def prepare(source, restored, changes):
    dynamodb = client()
    dynamodb.update_continuous_backups(TableName=source, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    time.sleep(1.1)
    before = time.time()
    time.sleep(1.1)
    # A value no earlier round wrote, so every round's updates change items.
    rooms = str(int(before))
    for i in range(changes):
        dynamodb.update_item(
            TableName=source,
            Key={"pk": {"S": f"HOME#{i % 2500 + 1}"}, "sk": {"S": f"SPATIALSCANS#{i:07d}"}},
            UpdateExpression="SET rooms = :r",
            ExpressionAttributeValues={":r": {"N": rooms}},
        )
    time.sleep(1.1)
    after = time.time()
    dynamodb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=restored,
                                            RestoreDateTime=datetime.fromtimestamp(before, timezone.utc))
    iso = lambda t: datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")
    print(json.dumps({"from": iso(before), "to": iso(after)}))


def export(dynamodb, table_arn, at, bucket, prefix):
    started = dynamodb.export_table_to_point_in_time(
        TableArn=table_arn, ExportTime=datetime.fromisoformat(at.replace("Z", "+00:00")), S3Bucket=bucket,
        S3Prefix=prefix, ExportFormat="DYNAMODB_JSON")
    arn = started["ExportDescription"]["ExportArn"]
    while True:
        described = dynamodb.describe_export(ExportArn=arn)["ExportDescription"]
        if described["ExportStatus"] == "COMPLETED":
            return described["ExportManifest"]
        if described["ExportStatus"] == "FAILED":
            raise SystemExit(f"export failed: {described}")
        time.sleep(0.5)


def read_export(bucket, manifest):
    client_s3 = s3()
    summary = json.loads(client_s3.get_object(Bucket=bucket, Key=manifest)["Body"].read())
    files = client_s3.get_object(Bucket=bucket, Key=summary["manifestFilesS3Key"])["Body"].read().decode()
    items = {}
    for line in files.splitlines():
        if not line.strip():
            continue
        data = client_s3.get_object(Bucket=bucket, Key=json.loads(line)["dataFileS3Key"])["Body"].read()
        for record in gzip.decompress(data).decode().splitlines():
            if record.strip():
                item = json.loads(record)["Item"]
                items[key(item)] = digest(item)
    return items


def scan_segment(table, segment, segments, results):
    found = {}
    for page in client().get_paginator("scan").paginate(TableName=table, Segment=segment, TotalSegments=segments, ConsistentRead=True):
        for item in page["Items"]:
            found[key(item)] = digest(item)
    results[segment] = found


def compare(source, restored, start, end, bucket, segments):
    dynamodb = client()
    arn = dynamodb.describe_table(TableName=source)["Table"]["TableArn"]
    token = str(int(time.time() * 1000))
    at_start = read_export(bucket, export(dynamodb, arn, start, bucket, f"baseline/{token}/start"))
    at_end = read_export(bucket, export(dynamodb, arn, end, bucket, f"baseline/{token}/end"))
    results = [None] * segments
    threads = [threading.Thread(target=scan_segment, args=(restored, s, segments, results)) for s in range(segments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    restored_items = {}
    for part in results:
        restored_items.update(part)
    changed = {k for k in at_start.keys() | at_end.keys() if at_start.get(k) != at_end.get(k)}
    mismatched = 0
    for k in at_start.keys() | at_end.keys() | restored_items.keys():
        got = restored_items.get(k)
        if k in changed:
            ok = got in (at_start.get(k), at_end.get(k))
        else:
            ok = got == at_start.get(k)
        mismatched += not ok
    print(json.dumps({"restored": len(restored_items), "changed_in_window": len(changed),
                      "unchanged": len(at_start.keys() - changed), "mismatched": mismatched, "passed": mismatched == 0}))


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "prepare":
        prepare(rest[0], rest[1], int(rest[2]))
    elif command == "compare":
        compare(rest[0], rest[1], rest[2], rest[3], rest[4], int(rest[5]))
    else:
        raise SystemExit(__doc__)
