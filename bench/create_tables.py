"""Creates COUNT empty on-demand tables PREFIX1..PREFIXn (zero-padded to
COUNT's width) in REGION of the emulator at URL: the sources of a bench's
generated policies (their drills are quick on empty tables).

    python bench/create_tables.py URL REGION PREFIX COUNT
"""
import sys

import boto3

url, region, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")
for i in range(1, count + 1):
    dynamodb.create_table(TableName=f"{prefix}{i:0{len(str(count))}d}", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
