"""The demo's operator inbox: an SQS queue subscribed to drctl's SNS topics,
as a team's chat or mail integration would be, and a reader that prints
what arrived the way an operator sees it.

    .venv/bin/python emulator/demo_inbox.py URL subscribe REGION:TOPIC...
    .venv/bin/python emulator/demo_inbox.py URL show
"""

import json
import sys

import boto3

QUEUE = "operator-inbox"
QUEUE_REGION = "us-east-1"
ACCOUNT = "123456789012"


def client(service: str, endpoint: str, region: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def subscribe(endpoint: str, topics: list[str]) -> None:
    sqs = client("sqs", endpoint, QUEUE_REGION)
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for spec in topics:
        region, topic = spec.split(":", 1)
        topic_arn = f"arn:aws:sns:{region}:{ACCOUNT}:{topic}"
        # drctl's announcements carry a verdict attribute; the vaults' own job
        # notifications on the same topic do not, and are filtered out.
        client("sns", endpoint, region).subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"FilterPolicy": json.dumps({"verdict": ["passed", "failed"]})},
        )
        print(f"  {QUEUE} subscribed to {topic_arn}")


def show(endpoint: str) -> None:
    sqs = client("sqs", endpoint, QUEUE_REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    shown = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            envelope = json.loads(message["Body"])
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            print(f"\n  Subject:    {envelope.get('Subject')}")
            print(f"  Attributes: {json.dumps(attributes, sort_keys=True)}")
            body = json.loads(envelope["Message"])
            print("  Body:")
            for line in json.dumps(body, indent=2, sort_keys=True).splitlines():
                print(f"    {line}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            shown += 1
    print(f"\n  {shown} message(s) in {QUEUE}")


if __name__ == "__main__":
    endpoint, command, *rest = sys.argv[1:]
    if command == "subscribe":
        subscribe(endpoint, rest)
    elif command == "show":
        show(endpoint)
    else:
        sys.exit(f"unknown command {command}")
