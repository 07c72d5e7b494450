"""AssumeRole trust policies, opt-in per target account (drctl_moto.sts_trust,
``POST /_drctl/sts/trust``)."""

from __future__ import annotations

import json
import random
import urllib.error

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import REGION

def _account() -> str:
    return "".join(random.choice("0123456789") for _ in range(12))


def _sts(endpoint, **creds):
    creds = creds or dict(aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("sts", region_name=REGION, endpoint_url=endpoint, **creds)


class Target:
    """A second account, administered with a session of a never-created
    role (taken before its trust is turned on), where roles are created."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.account = _account()
        creds = _sts(endpoint).assume_role(RoleArn=f"arn:aws:iam::{self.account}:role/admin",
                                           RoleSessionName="admin")["Credentials"]
        self.iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint,
                                aws_access_key_id=creds["AccessKeyId"],
                                aws_secret_access_key=creds["SecretAccessKey"],
                                aws_session_token=creds["SessionToken"])

    def role(self, name: str, *statements) -> str:
        doc = {"Version": "2012-10-17", "Statement": list(statements)}
        return self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]


@pytest.fixture
def target(endpoint, control):
    acct = Target(endpoint)
    yield acct
    control.post("/reset", {"account": acct.account})


def trusting(principal, **extra):
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


def _creds(answer):
    c = answer["Credentials"]
    return dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"])


def _denied(call):
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response


def test_without_the_opt_in_a_never_created_role_is_assumable(endpoint, control, aws):
    """moto's behaviour, kept by default (the test harness depends on it:
    conftest.Aws assumes ``role/drctl-test`` in a random account). Nothing
    in AWS's docs; the emulator's choice, off until ``/_drctl/sts/trust``."""
    other = _account()
    assert other not in control.get("/sts/trust")["accounts"]
    sts = _sts(endpoint, **aws.creds)
    answer = sts.assume_role(RoleArn=f"arn:aws:iam::{other}:role/never-created", RoleSessionName="sess")
    assert _sts(endpoint, **_creds(answer)).get_caller_identity()["Account"] == other


def test_with_the_opt_in_a_missing_role_is_access_denied(endpoint, control, aws, target):
    """A role that does not exist cannot be assumed ("Make sure to use the
    exact name of your role, because role names are case sensitive": IAM
    User Guide, "Troubleshooting IAM roles", I can't assume a role,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_roles.html).
    The STS API Reference's AssumeRole
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html)
    lists no error of its own for it: the answer is the AccessDenied of an
    untrusting role, 403 ``User: <caller ARN> is not authorized to perform:
    sts:AssumeRole on resource: <role ARN>`` (the wording of "Troubleshoot
    access denied error messages",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
    The caller's session is of a role that was never created: it stands for
    its account's root."""
    control.post("/sts/trust", {"account": target.account})
    role_arn = f"arn:aws:iam::{target.account}:role/missing"
    response = _denied(lambda: _sts(endpoint, **aws.creds).assume_role(RoleArn=role_arn, RoleSessionName="sess"))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "AccessDenied"
    assert response["Error"]["Type"] == "Sender"
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{aws.account}:root is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn}")


def test_a_role_trusting_another_account_is_refused(endpoint, control, aws, target):
    """"Verify that the AWS account that you are calling AssumeRole from is
    a trusted entity for the role that you are assuming. Trusted entities
    are defined as a Principal in a role's trust policy ... If your account
    number is not listed in the Principal element of the role's trust
    policy, then you cannot assume the role" (IAM User Guide, "Troubleshooting IAM roles", I can't assume a role,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_roles.html)."""
    stranger = _account()
    arn = target.role("for-a-stranger", trusting({"AWS": f"arn:aws:iam::{stranger}:root"}))
    control.post("/sts/trust", {"account": target.account})
    response = _denied(lambda: _sts(endpoint, **aws.creds).assume_role(RoleArn=arn, RoleSessionName="sess"))
    assert response["Error"]["Code"] == "AccessDenied"
    assert arn in response["Error"]["Message"]


@pytest.mark.parametrize("form", ["root-arn", "account-id", "list"])
def test_a_role_trusting_the_callers_account_is_assumed_into_its_account(endpoint, control, aws, target, form):
    """"For cross-account access, you must specify the 12-digit identifier of
    the trusted account" in the role trust policy's Principal; the account
    may be named by its id or its root ARN ``arn:aws:iam::123456789012:root``
    (IAM User Guide, "AWS JSON policy elements: Principal", AWS account
    principals, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
    The credentials act in the role's account ("You can use the role's
    temporary credentials in subsequent AWS API calls to access resources
    in the account that owns the role": STS API Reference, AssumeRole,
    https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html)."""
    principal = {"root-arn": {"AWS": f"arn:aws:iam::{aws.account}:root"},
                 "account-id": {"AWS": aws.account},
                 "list": {"AWS": [f"arn:aws:iam::{_account()}:root", aws.account]}}[form]
    arn = target.role("for-the-caller", trusting(principal))
    control.post("/sts/trust", {"account": target.account})
    answer = _sts(endpoint, **aws.creds).assume_role(RoleArn=arn, RoleSessionName="drill")
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{target.account}:assumed-role/for-the-caller/drill"
    identity = _sts(endpoint, **_creds(answer)).get_caller_identity()
    assert identity["Account"] == target.account
    assert identity["Arn"] == f"arn:aws:sts::{target.account}:assumed-role/for-the-caller/drill"


def test_an_external_id_required_by_the_trust_policy(endpoint, control, aws, target):
    """"A Condition can specify an expiration date, an external ID, or that
    a request must come only from specific IP addresses" and the caller must
    "meet all the conditions that are specified in the role's trust policy"
    (IAM User Guide, "Troubleshooting IAM roles", I can't assume a role,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_roles.html); ExternalId: "If the administrator of the
    account to which the role belongs provided you with an external ID,
    then provide that value in the ExternalId parameter" (STS API Reference,
    AssumeRole, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html)."""
    arn = target.role("third-party", trusting({"AWS": aws.account},
                                              Condition={"StringEquals": {"sts:ExternalId": "drctl-42"}}))
    control.post("/sts/trust", {"account": target.account})
    sts = _sts(endpoint, **aws.creds)
    assert _denied(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="sess"))["Error"]["Code"] == "AccessDenied"
    assert _denied(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="sess", ExternalId="drctl-43")
                   )["Error"]["Code"] == "AccessDenied"
    answer = sts.assume_role(RoleArn=arn, RoleSessionName="sess", ExternalId="drctl-42")
    assert _sts(endpoint, **_creds(answer)).get_caller_identity()["Account"] == target.account


def test_an_iam_user_named_by_its_arn_and_a_deny_that_wins(endpoint, control, aws, target):
    """A trust policy may name an IAM user by its ARN ("AWS JSON policy
    elements: Principal", IAM user principals,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html);
    an explicit Deny overrides any Allow (IAM User Guide, "Policy evaluation
    logic", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html)."""
    iam = aws.client("iam")
    user_arn = iam.create_user(UserName="operator")["User"]["Arn"]
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    user_sts = _sts(endpoint, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    named = target.role("for-the-operator", trusting({"AWS": user_arn}))
    other_user = target.role("for-someone-else", trusting({"AWS": f"arn:aws:iam::{aws.account}:user/someone"}))
    denied = target.role("denied", trusting({"AWS": aws.account}),
                         {"Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})
    control.post("/sts/trust", {"account": target.account})
    answer = user_sts.assume_role(RoleArn=named, RoleSessionName="op")
    assert _sts(endpoint, **_creds(answer)).get_caller_identity()["Account"] == target.account
    response = _denied(lambda: user_sts.assume_role(RoleArn=other_user, RoleSessionName="op"))
    assert response["Error"]["Message"] == (
        f"User: {user_arn} is not authorized to perform: sts:AssumeRole on resource: {other_user}")
    assert _denied(lambda: user_sts.assume_role(RoleArn=denied, RoleSessionName="op"))["Error"]["Code"] == \
        "AccessDenied"


def test_turning_it_off_or_resetting_restores_the_default(endpoint, control, aws, target):
    """The opt-in is the emulator's (see the first test): DELETE
    ``/_drctl/sts/trust?account=`` and ``POST /_drctl/reset`` with the
    account turn it off, and a never-created role is assumable again."""
    role_arn = f"arn:aws:iam::{target.account}:role/missing"
    sts = _sts(endpoint, **aws.creds)
    assert control.post("/sts/trust", {"account": target.account})["accounts"].count(target.account) == 1
    _denied(lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="sess"))
    assert control.delete("/sts/trust", f"account={target.account}")["removed"] is True
    assert target.account not in control.get("/sts/trust")["accounts"]
    sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")
    control.post("/sts/trust", {"account": target.account})
    _denied(lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="sess"))
    control.post("/reset", {"account": target.account})
    sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")
    # The opt-in touches its account only.
    control.post("/sts/trust", {"account": target.account})
    sts.assume_role(RoleArn=f"arn:aws:iam::{_account()}:role/missing", RoleSessionName="sess")


def test_the_control_endpoint_wants_a_12_digit_account(control):
    with pytest.raises(urllib.error.HTTPError) as err:
        control.post("/sts/trust", {"account": "12345"})
    assert err.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as err:
        control.delete("/sts/trust")
    assert err.value.code == 400
