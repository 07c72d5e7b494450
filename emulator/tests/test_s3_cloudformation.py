"""CloudFormation AWS::S3::Bucket (the properties drctl's export bucket
declares) and AWS::S3::BucketPolicy, through change sets."""

import copy
import json

import pytest
from botocore.exceptions import ClientError

TEMPLATE = {
    "Resources": {
        "ExportBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
                "LifecycleConfiguration": {"Rules": [{
                    "Id": "expire-exports", "Status": "Enabled", "ExpirationInDays": 7,
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "Tags": [{"Key": "drctl:managed-by", "Value": "drctl"}],
            },
        },
        "ExportBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "ExportBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": [{"Fn::GetAtt": ["ExportBucket", "Arn"]},
                                 {"Fn::Sub": "${ExportBucket.Arn}/*"}],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
            },
        },
    },
    "Outputs": {
        "BucketName": {"Value": {"Ref": "ExportBucket"}},
        "BucketArn": {"Value": {"Fn::GetAtt": ["ExportBucket", "Arn"]}},
    },
}


def deploy(cfn, name, template, change_set_type, cs):
    cfn.create_change_set(StackName=name, ChangeSetName=cs, TemplateBody=json.dumps(template),
                          ChangeSetType=change_set_type)
    cfn.execute_change_set(StackName=name, ChangeSetName=cs)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return stack, {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_export_bucket_stack_lands_every_property(aws):
    """AWS::S3::Bucket: BucketName "If you don't specify a name, AWS
    CloudFormation generates a unique ID and uses that ID for the bucket
    name."; BucketEncryption, PublicAccessBlockConfiguration,
    LifecycleConfiguration, OwnershipControls, Tags; "Ref returns the bucket
    name"; Fn::GetAtt Arn "Returns the Amazon Resource Name (ARN) of the
    specified bucket." (AWS::S3::Bucket - AWS CloudFormation,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucket.html.)
    AWS::S3::BucketPolicy: "Applies an Amazon S3 bucket policy to an Amazon
    S3 bucket." (AWS::S3::BucketPolicy - AWS CloudFormation,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucketpolicy.html.)
    DeletionPolicy Retain: "CloudFormation keeps the resource without
    deleting the resource" (DeletionPolicy attribute - AWS CloudFormation,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html)."""
    cfn, s3 = aws.client("cloudformation"), aws.client("s3")
    stack, out = deploy(cfn, "drctl-bootstrap", TEMPLATE, "CREATE", "c1")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    name = out["BucketName"]
    assert name.startswith("drctl-bootstrap-exportbucket-") and name == name.lower()
    assert out["BucketArn"] == f"arn:aws:s3:::{name}"

    enc = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    rule = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"][0]
    assert (rule["ID"], rule["Status"], rule["Expiration"]["Days"]) == ("expire-exports", "Enabled", 7)
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "drctl:managed-by", "Value": "drctl"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    statement = policy["Statement"][0]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName="drctl-bootstrap")["StackResources"]}
    assert resources["ExportBucket"]["PhysicalResourceId"] == name
    assert resources["ExportBucketPolicy"]["ResourceType"] == "AWS::S3::BucketPolicy"

    cfn.delete_stack(StackName="drctl-bootstrap")
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]], "Retain keeps the bucket"
    with pytest.raises(ClientError) as err:  # the policy (no Retain) went with the stack
        s3.get_bucket_policy(Bucket=name)
    assert err.value.response["Error"]["Code"] == "NoSuchBucketPolicy"
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName="drctl-bootstrap")


def test_the_tls_only_policy_lets_the_sdk_work(aws):
    """aws:SecureTransport: "Use this key to check whether the request was
    sent using TLS." (AWS global condition context keys - AWS Identity and
    Access Management,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html);
    a bucket policy denying requests where it is false blocks plain HTTP
    and lets HTTPS through (Enforcing encryption in transit with TLS1.2 or
    higher with Amazon S3 - AWS Storage Blog,
    https://aws.amazon.com/blogs/storage/enforcing-encryption-in-transit-with-tls1-2-or-higher-with-amazon-s3/).
    The emulator stands in for AWS's HTTPS endpoints: its requests count as
    TLS (moto alone ignores the condition and denies every object call)."""
    cfn, s3 = aws.client("cloudformation"), aws.client("s3")
    _, out = deploy(cfn, "tls-only", TEMPLATE, "CREATE", "c1")
    name = out["BucketName"]
    s3.put_object(Bucket=name, Key="exports/x.json", Body=b"{}")
    assert s3.get_object(Bucket=name, Key="exports/x.json")["Body"].read() == b"{}"
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}))
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=name, Key="exports/x.json")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_bucket_updates_in_place_and_a_new_name_replaces_it(aws):
    """Updating LifecycleConfiguration, Tags or PublicAccessBlockConfiguration
    requires "No interruption"; BucketName "Update requires: Replacement"
    (AWS::S3::Bucket - AWS CloudFormation,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucket.html).
    A resource that refers to a replaced one is updated with the new value:
    "If the resource is recreated, it will have a new physical ID, so all
    references to that resource will also be updated." (Evaluation,
    ResourceChangeDetail - AWS CloudFormation,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ResourceChangeDetail.html):
    the bucket policy follows the renamed bucket."""
    cfn, s3 = aws.client("cloudformation"), aws.client("s3")
    _, out = deploy(cfn, "upd", TEMPLATE, "CREATE", "c1")
    name = out["BucketName"]
    t2 = copy.deepcopy(TEMPLATE)
    props = t2["Resources"]["ExportBucket"]["Properties"]
    props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] = 30
    props["Tags"] = [{"Key": "drctl:managed-by", "Value": "drctl"}, {"Key": "env", "Value": "dr"}]
    del props["PublicAccessBlockConfiguration"]
    stack, out2 = deploy(cfn, "upd", t2, "UPDATE", "c2")
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and out2["BucketName"] == name
    assert s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"][0]["Expiration"]["Days"] == 30
    assert {t["Key"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]} == {"drctl:managed-by", "env"}
    with pytest.raises(ClientError):
        s3.get_public_access_block(Bucket=name)

    t3 = copy.deepcopy(t2)
    renamed = f"drctl-exports-{aws.account}"
    t3["Resources"]["ExportBucket"]["Properties"]["BucketName"] = renamed
    _, out3 = deploy(cfn, "upd", t3, "UPDATE", "c3")
    assert out3["BucketName"] == renamed
    assert json.loads(s3.get_bucket_policy(Bucket=renamed)["Policy"])["Statement"][0]["Resource"][0] == \
        f"arn:aws:s3:::{renamed}"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert renamed in names and name in names, "UpdateReplacePolicy Retain keeps the old bucket"
