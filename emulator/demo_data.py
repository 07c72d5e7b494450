"""Example tables with data for the demo: the first customer's 3D home
scans, floor plans and render jobs, in the regions their policies name.

    .venv/bin/python emulator/demo_data.py http://127.0.0.1:4599
"""

import sys
import time

import boto3

TABLES = {
    # table: (region, items)
    "SpatialScans": ("us-east-1", 300),
    "FloorPlans": ("us-east-1", 120),
    "RenderJobs": ("us-west-2", 80),
}


def seed(endpoint: str) -> None:
    for table, (region, count) in TABLES.items():
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        if table in dynamodb.list_tables()["TableNames"]:
            continue
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
        for i in range(count):
            dynamodb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": f"HOME#{i % 25 + 1}"},
                    "sk": {"S": f"{table.upper()}#{i:05d}"},
                    "rooms": {"N": str(i % 7 + 1)},
                    "mesh_uri": {"S": f"s3://renders/{table.lower()}/{i:05d}.glb"},
                    # When the item last changed (render-jobs' changed_since).
                    "updated_at": {"N": str(int(time.time()) - 86_400 + i)},
                },
            )
        print(f"  {table} ({region}): {count} items")


if __name__ == "__main__":
    seed(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4599")
