"""The fingerprint benchmark's Python side (bench/fingerprint.sh runs it).

    load  TABLE START COUNT   create TABLE if needed and write items START..START+COUNT
    hash  TABLE SEGMENTS      the baseline: a plain boto3 parallel scan + SHA-256
    scan  TABLE SEGMENTS      the server's own bound: raw Scan requests, no client work

`hash` computes the same fingerprint as `drctl fingerprint` (the canonical
item encoding of src/drill/checks/items.rs, SHA-256 per item, summed modulo
2^256), so the benchmark also checks that both agree. Endpoint and
credentials come from AWS_ENDPOINT_URL, AWS_REGION and the usual variables.
"""

import hashlib
import json
import os
import struct
import sys
import threading
import time
import urllib.request

import boto3

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4611")
REGION = os.environ.get("AWS_REGION", "us-east-1")


def client():
    # One client per thread: botocore clients are thread-safe, but a
    # session is not, and separate clients keep separate connections.
    return boto3.session.Session().client("dynamodb", endpoint_url=ENDPOINT, region_name=REGION)


def item(i):
    """Item i: the demo's shape (home, scan, rooms, mesh) padded to ~300 bytes."""
    return {
        "pk": {"S": f"HOME#{i % 2500 + 1}"},
        "sk": {"S": f"SPATIALSCANS#{i:07d}"},
        "rooms": {"N": str(i % 7 + 1)},
        "mesh_uri": {"S": f"s3://renders/spatialscans/{i:07d}.glb"},
        "notes": {"S": f"scan {i} of a home: living room, kitchen, two bedrooms, hall; " + "x" * 150},
        "captured": {"N": str(1_700_000_000 + i)},
    }


def load(table, start, count):
    dynamodb = client()
    if table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    for first in range(start, start + count, 25):
        pending = {table: [{"PutRequest": {"Item": item(i)}} for i in range(first, min(first + 25, start + count))]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


# The canonical encoding of src/drill/checks/items.rs, byte for byte.
def put_bytes(out, data):
    out += struct.pack(">Q", len(data))
    out += data


def encode_item(attributes, out):
    out += struct.pack(">Q", len(attributes))
    for name in sorted(attributes):
        put_bytes(out, name.encode())
        encode_value(attributes[name], out)


def encode_value(value, out):
    (kind, v), = value.items()
    if kind in ("S", "N"):
        out += kind.encode()
        put_bytes(out, v.encode())
    elif kind == "B":
        out += b"B"
        put_bytes(out, v)
    elif kind == "BOOL":
        out += b"b"
        put_bytes(out, b"\x01" if v else b"\x00")
    elif kind == "NULL":
        out += b"0"
        put_bytes(out, b"")
    elif kind in ("SS", "NS", "BS"):
        members = sorted(m if kind == "BS" else m.encode() for m in v)
        out += {"SS": b"s", "NS": b"n", "BS": b"x"}[kind]
        out += struct.pack(">Q", len(members))
        for member in members:
            put_bytes(out, member)
    elif kind == "L":
        out += b"L"
        out += struct.pack(">Q", len(v))
        for element in v:
            encode_value(element, out)
    elif kind == "M":
        out += b"M"
        encode_item(v, out)
    else:
        raise ValueError(f"unknown attribute type {kind}")


def hash_segment(table, segment, segments, results):
    paginator = client().get_paginator("scan")
    total, count = 0, 0
    for page in paginator.paginate(TableName=table, Segment=segment, TotalSegments=segments, ConsistentRead=True):
        for attributes in page["Items"]:
            out = bytearray()
            encode_item(attributes, out)
            total += int.from_bytes(hashlib.sha256(out).digest(), "big")
            count += 1
    results[segment] = (count, total)


def scan_segment(table, segment, segments, results):
    """Raw Scan requests; the body is parsed only for the next page's key."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.Scan",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={os.environ.get('AWS_ACCESS_KEY_ID', 'testing')}/20240101/{REGION}"
        "/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    }
    request = {"TableName": table, "Segment": segment, "TotalSegments": segments, "ConsistentRead": True}
    count = 0
    while True:
        sent = urllib.request.Request(ENDPOINT, data=json.dumps(request).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(sent, timeout=600) as response:
            page = json.loads(response.read())
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    results[segment] = (count, 0)


def parallel(work, table, segments):
    results = [None] * segments
    threads = [threading.Thread(target=work, args=(table, s, segments, results)) for s in range(segments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(r is None for r in results):
        sys.exit("a segment failed")
    return sum(r[0] for r in results), sum(r[1] for r in results) % (1 << 256)


def main(argv):
    command, table = argv[1], argv[2]
    if command == "load":
        load(table, int(argv[3]), int(argv[4]))
        return
    segments = int(argv[3])
    started = time.monotonic()
    items, total = parallel(hash_segment if command == "hash" else scan_segment, table, segments)
    seconds = time.monotonic() - started
    print(json.dumps({"items": items, "fingerprint": f"{total:064x}" if command == "hash" else None, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv)
