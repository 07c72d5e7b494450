"""A server for the test session on a free loopback port, and per-test AWS
clients in an account of their own (STS AssumeRole into a random account)."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import urllib.request

import boto3
import pytest
from botocore.config import Config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import server  # noqa: E402  (emulator/server.py)

REGION = "us-east-1"
DR_REGION = "us-west-2"


@pytest.fixture(scope="session")
def endpoint():
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "MOTO_ACCOUNT_ID"):
        os.environ.pop(key, None)
    srv = server.make_server("127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


class Control:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def call(self, method: str, path: str, body: dict | None = None, query: str = ""):
        data = json.dumps(body).encode() if body is not None else None
        url = f"{self.endpoint}/_drctl{path}" + (f"?{query}" if query else "")
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    def post(self, path, body):
        return self.call("POST", path, body)

    def get(self, path, query=""):
        return self.call("GET", path, query=query)

    def delete(self, path, query=""):
        return self.call("DELETE", path, query=query)


@pytest.fixture(scope="session")
def control(endpoint):
    return Control(endpoint)


class Aws:
    """boto3 clients for one fresh account."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.account = "".join(random.choice("0123456789") for _ in range(12))
        sts = boto3.client("sts", region_name=REGION, endpoint_url=endpoint,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{self.account}:role/drctl-test",
                                RoleSessionName="drctl-test")["Credentials"]
        self.creds = dict(aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])

    def client(self, service: str, region: str = REGION, retries: int = 0):
        cfg = Config(retries={"total_max_attempts": retries + 1, "mode": "standard"})
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                            config=cfg, **self.creds)


@pytest.fixture
def aws(endpoint, control):
    acct = Aws(endpoint)
    yield acct
    control.post("/reset", {"account": acct.account})


def make_table(ddb, name: str, items: int = 3) -> str:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    for i in range(items):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"item-{i}"}, "v": {"N": str(i)}})
    return ddb.describe_table(TableName=name)["Table"]["TableArn"]


def scan_keys(ddb, name: str) -> set[str]:
    return {item["pk"]["S"] for item in ddb.scan(TableName=name)["Items"]}


ROLE = "arn:aws:iam::123456789012:role/backup"
