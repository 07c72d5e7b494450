"""A client of the demo's SpatialScans table that keeps writing while the
drills run — new scans, updated ones, deleted ones, about 20 a second — so
the demo shows a drill of a live table proven against the source as it was
around its recovery point.

    .venv/bin/python emulator/demo_writer.py http://127.0.0.1:4599 &
"""

import signal
import sys
import time

import boto3

TABLE = "SpatialScans"
REGION = "us-east-1"


def write(endpoint: str) -> None:
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    n = 0
    while not stopping:
        j = (n * 7) % 300  # one of the seeded scans (emulator/demo_data.py)
        existing = {"pk": {"S": f"HOME#{j % 25 + 1}"}, "sk": {"S": f"{TABLE.upper()}#{j:05d}"}}
        if n % 3 == 0:
            dynamodb.put_item(
                TableName=TABLE,
                Item={
                    "pk": {"S": f"HOME#{n % 25 + 1}"},
                    "sk": {"S": f"LIVE#{n:06d}"},
                    "rooms": {"N": str(n % 7 + 1)},
                    "mesh_uri": {"S": f"s3://renders/live/{n:06d}.glb"},
                    "updated_at": {"N": str(int(time.time()))},
                },
            )
        elif n % 3 == 1:
            dynamodb.update_item(
                TableName=TABLE,
                Key=existing,
                UpdateExpression="SET rooms = :r, updated_at = :t",
                ExpressionAttributeValues={":r": {"N": str(n % 9 + 1)}, ":t": {"N": str(int(time.time()))}},
            )
        else:
            dynamodb.delete_item(TableName=TABLE, Key=existing)
        n += 1
        time.sleep(0.05)
    print(f"  the writer made {n} writes to {TABLE} while the drills ran")


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4599")
