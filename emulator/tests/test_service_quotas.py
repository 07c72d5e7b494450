"""Service Quotas' ListServiceQuotas and GetServiceQuota for ServiceCode
`backup`: the applied values of the AWS Backup quotas the emulator enforces
(drctl_moto.service_quotas over drctl_moto.quotas), per account, adjustable
through /_drctl/quotas; IAM's servicequotas:* actions for them."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from conftest import DR_REGION, REGION, Aws

from test_iam_enforce import Role, allow, outcome, policy

LIST_DOC = "https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html"
QUOTAS_PAGE = "https://docs.aws.amazon.com/aws-backup/latest/devguide/aws-backup-limits.html"

VAULTS = "Total vaults (backup and logically air-gapped) per Region per account"
PLANS = "Backup plans per Region per account"
SELECTIONS = "Resource assignments per backup plan"


@pytest.fixture
def other(endpoint, control):
    """A second fresh account, to show the values are per account."""
    acct = Aws(endpoint)
    yield acct
    control.post("/reset", {"account": acct.account})


def raw_answers(client):
    """The raw HTTP answers the client receives, to look at the wire."""
    seen = []
    client.meta.events.register("before-parse.service-quotas.*",
                                lambda response_dict, **_: seen.append(response_dict))
    return seen


def by_name(quotas):
    return {q["QuotaName"]: q for q in quotas}


def values(sq, region_quotas=None):
    quotas = region_quotas if region_quotas is not None else sq.list_service_quotas(ServiceCode="backup")["Quotas"]
    return {q["QuotaName"]: q["Value"] for q in quotas}


def test_lists_aws_backup_quotas_at_aws_defaults(aws):
    """Service Quotas API Reference, ListServiceQuotas: "Lists the applied
    quota values for the specified AWS service" (LIST_DOC); the ServiceQuota
    data type: ServiceCode, ServiceName, QuotaArn, QuotaCode, QuotaName,
    Value (a number, typed Double), Unit, Adjustable, GlobalQuota. AWS Backup
    Developer Guide, "AWS Backup quotas" (QUOTAS_PAGE): "Total vaults (backup
    and logically air-gapped) per Region per account" 300, adjustable;
    "Backup plans per Region per account" 300, adjustable; "Resource
    assignments per backup plan" 100, not adjustable. An account that never
    asked for an increase has AWS's defaults applied. The quota codes are the
    emulator's own (L-DRCTL-*): clients match on QuotaName."""
    sq = aws.client("service-quotas")
    wire = raw_answers(sq)
    answer = sq.list_service_quotas(ServiceCode="backup")
    assert "NextToken" not in answer
    quotas = by_name(answer["Quotas"])
    assert {name: (q["Value"], q["Adjustable"]) for name, q in quotas.items()} == {
        VAULTS: (300.0, True), PLANS: (300.0, True), SELECTIONS: (100.0, False)}
    codes = {name: q["QuotaCode"] for name, q in quotas.items()}
    assert codes == {VAULTS: "L-DRCTL-VAULTS", PLANS: "L-DRCTL-PLANS", SELECTIONS: "L-DRCTL-SELECTIONS"}
    for q in quotas.values():
        assert q["ServiceCode"] == "backup"
        assert q["ServiceName"] == "AWS Backup"
        assert q["QuotaArn"] == f"arn:aws:servicequotas:{REGION}:{aws.account}:backup/{q['QuotaCode']}"
        assert q["Unit"] == "None"
        assert q["GlobalQuota"] is False
    # On the wire: JSON numbers (a double, as AWS sends 300.0), JSON booleans.
    body = json.loads(wire[-1]["body"])
    assert all(isinstance(q["Value"], float) for q in body["Quotas"])
    assert all(isinstance(q["Adjustable"], bool) for q in body["Quotas"])


def test_lists_the_values_applied_to_the_account(aws, other, control):
    """ListServiceQuotas answers the APPLIED values ("Lists the applied
    quota values for the specified AWS service", LIST_DOC): once the account's
    quotas are raised (here through /_drctl/quotas, the emulator's stand-in
    for an approved increase) the list shows the new values, in each Region
    of the account (AWS Backup quotas page: per Region per account, the
    value applied to the account), while another account keeps AWS's
    defaults. These are the very limits CreateBackupVault / CreateBackupPlan
    / CreateBackupSelection enforce."""
    control.post("/quotas", {"account": aws.account, "backup_vaults": 7, "backup_plans": 5,
                             "selections_per_plan": 2})
    sq = aws.client("service-quotas")
    assert values(sq) == {VAULTS: 7.0, PLANS: 5.0, SELECTIONS: 2.0}
    dr = aws.client("service-quotas", region=DR_REGION).list_service_quotas(ServiceCode="backup")["Quotas"]
    assert values(None, dr) == {VAULTS: 7.0, PLANS: 5.0, SELECTIONS: 2.0}
    assert {q["QuotaArn"].split(":")[3] for q in dr} == {DR_REGION}
    assert values(other.client("service-quotas")) == {VAULTS: 300.0, PLANS: 300.0, SELECTIONS: 100.0}

    # A partial change keeps the other values; a reset is AWS's defaults again.
    control.post("/quotas", {"account": aws.account, "backup_plans": 400})
    assert values(sq) == {VAULTS: 7.0, PLANS: 400.0, SELECTIONS: 2.0}
    control.delete("/quotas", f"account={aws.account}")
    assert values(sq) == {VAULTS: 300.0, PLANS: 300.0, SELECTIONS: 100.0}

    # The listed value is the one enforced: with 1 vault applied, the second
    # CreateBackupVault is LimitExceededException.
    control.post("/quotas", {"account": aws.account, "backup_vaults": 1})
    assert values(sq)[VAULTS] == 1.0
    b = aws.client("backup")
    b.create_backup_vault(BackupVaultName="first")
    with pytest.raises(ClientError) as err:
        b.create_backup_vault(BackupVaultName="second")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"


def test_pagination_with_max_results_and_next_token(aws):
    """ListServiceQuotas (LIST_DOC): MaxResults, "Valid Range: Minimum value
    of 1. Maximum value of 100"; "If additional items exist beyond those
    included in the current response, the NextToken response element is
    present"; NextToken "is null when there are no more results to return",
    and matches ^[a-zA-Z0-9/+]*={0,2}$. InvalidPaginationTokenException is
    among the operation's errors."""
    sq = aws.client("service-quotas")
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = sq.list_service_quotas(ServiceCode="backup", MaxResults=1, **kwargs)
        pages += 1
        assert len(page["Quotas"]) == 1
        seen += [q["QuotaName"] for q in page["Quotas"]]
        token = page.get("NextToken")
        if not token:
            break
        assert all(c.isalnum() or c in "/+=" for c in token)
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted([VAULTS, PLANS, SELECTIONS])

    # boto3's paginator (PageSize = MaxResults) walks the same list.
    pager = sq.get_paginator("list_service_quotas").paginate(ServiceCode="backup", PaginationConfig={"PageSize": 2})
    sizes = [len(p["Quotas"]) for p in pager]
    assert sizes == [2, 1]

    with pytest.raises(ClientError) as err:
        sq.list_service_quotas(ServiceCode="backup", NextToken="bm90LWEtdG9rZW4=")
    assert err.value.response["Error"]["Code"] == "InvalidPaginationTokenException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        sq.list_service_quotas(ServiceCode="backup", MaxResults=101)
    assert err.value.response["Error"]["Code"] == "IllegalArgumentException"


def test_quota_code_and_applied_level_filters(aws):
    """ListServiceQuotas (LIST_DOC): QuotaCode "Specifies the quota
    identifier"; QuotaAppliedAtLevel "Filters the response to return applied
    quota values for the ACCOUNT, RESOURCE, or ALL levels. ACCOUNT is the
    default." The emulator's Backup quotas are account-level ones."""
    sq = aws.client("service-quotas")
    only = sq.list_service_quotas(ServiceCode="backup", QuotaCode="L-DRCTL-PLANS")["Quotas"]
    assert [q["QuotaName"] for q in only] == [PLANS]
    assert len(sq.list_service_quotas(ServiceCode="backup", QuotaAppliedAtLevel="ALL")["Quotas"]) == 3
    assert len(sq.list_service_quotas(ServiceCode="backup", QuotaAppliedAtLevel="ACCOUNT")["Quotas"]) == 3
    assert sq.list_service_quotas(ServiceCode="backup", QuotaAppliedAtLevel="RESOURCE")["Quotas"] == []


def test_get_service_quota_by_code(aws, other, control):
    """Service Quotas API Reference, GetServiceQuota: "Retrieves the applied
    quota value for the specified account-level or resource-level quota";
    QuotaCode: "To find the quota code for a specific quota, use the
    ListServiceQuotas operation". Same quota, same applied value as the
    list; an unknown code is NoSuchResourceException ("The specified
    resource does not exist"), and other service codes keep moto's answers
    (moto knows vpc's defaults)."""
    control.post("/quotas", {"account": aws.account, "selections_per_plan": 12})
    sq = aws.client("service-quotas")
    for listed in sq.list_service_quotas(ServiceCode="backup")["Quotas"]:
        got = sq.get_service_quota(ServiceCode="backup", QuotaCode=listed["QuotaCode"])["Quota"]
        assert got == listed
    got = sq.get_service_quota(ServiceCode="backup", QuotaCode="L-DRCTL-SELECTIONS")["Quota"]
    assert (got["QuotaName"], got["Value"], got["Adjustable"]) == (SELECTIONS, 12.0, False)
    theirs = other.client("service-quotas").get_service_quota(ServiceCode="backup", QuotaCode="L-DRCTL-SELECTIONS")
    assert theirs["Quota"]["Value"] == 100.0

    with pytest.raises(ClientError) as err:
        sq.get_service_quota(ServiceCode="backup", QuotaCode="L-12345678")
    assert err.value.response["Error"]["Code"] == "NoSuchResourceException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    vpc = sq.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]
    assert vpc["QuotaName"] == "VPCs per Region"


def test_unknown_service_code_is_no_such_resource(aws):
    """Service Quotas API Reference, ListServiceQuotas, Errors:
    NoSuchResourceException, "The specified resource does not exist.",
    HTTP 400; the JSON 1.1 protocol's error body carries `__type`."""
    sq = aws.client("service-quotas")
    wire = raw_answers(sq)
    with pytest.raises(ClientError) as err:
        sq.list_service_quotas(ServiceCode="no-such-service")
    assert err.value.response["Error"]["Code"] == "NoSuchResourceException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    body = json.loads(wire[-1]["body"])
    assert body["__type"] == "NoSuchResourceException"
    assert body["message"]


def test_throttle_fault_is_too_many_requests(aws, control):
    """Service Quotas API Reference, Errors: TooManyRequestsException ("Due
    to throttling, the request was denied"), which a throttle fault on the
    signing name `servicequotas` answers, in JSON."""
    control.post("/faults", {"account": aws.account, "service": "servicequotas",
                             "operation": "ListServiceQuotas", "times": 1})
    sq = aws.client("service-quotas")
    with pytest.raises(ClientError) as err:
        sq.list_service_quotas(ServiceCode="backup")
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert len(sq.list_service_quotas(ServiceCode="backup")["Quotas"]) == 3


# ---------------------------------------------------------------------------
# IAM


def test_iam_list_service_quotas_needs_its_action(aws, control):
    """Service Authorization Reference, "Actions, resources, and condition
    keys for Service Quotas": the service prefix is `servicequotas`;
    ListServiceQuotas has no resource type (Resource "*"). The call is
    authorized as servicequotas:ListServiceQuotas (the signing name is
    servicequotas too; moto's service is service-quotas): without it the
    call is AccessDeniedException (HTTP 400, JSON `__type`, as the Service
    Quotas API Reference lists it), with it allowed."""
    without = Role(aws, control, [policy(allow(["servicequotas:GetServiceQuota",
                                                "servicequotas:ListAWSDefaultServiceQuotas"]))], name="no-list")
    sq = without.client("service-quotas")
    wire = raw_answers(sq)
    with pytest.raises(ClientError) as err:
        sq.list_service_quotas(ServiceCode="backup")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"] == (
        f"User: {without.session_arn} is not authorized to perform: servicequotas:ListServiceQuotas "
        "because no identity-based policy allows the servicequotas:ListServiceQuotas action")
    assert json.loads(wire[-1]["body"])["__type"] == "AccessDeniedException"
    log = control.get("/iam/decisions", f"account={aws.account}&denied=1")["decisions"]
    assert log[-1]["operation"] == "ListServiceQuotas"
    assert [(c["action"], c["resource"], c["allowed"]) for c in log[-1]["checks"]] == [
        ("servicequotas:ListServiceQuotas", "*", False)]

    control.delete("/iam/enforce", f"account={aws.account}")
    with_it = Role(aws, control, [policy(allow("servicequotas:ListServiceQuotas"))], name="with-list")
    assert len(with_it.client("service-quotas").list_service_quotas(ServiceCode="backup")["Quotas"]) == 3
    # A statement scoped to ARNs does not allow an action without a resource type.
    control.delete("/iam/enforce", f"account={aws.account}")
    scoped = Role(aws, control, [policy(allow("servicequotas:ListServiceQuotas",
                                              "arn:aws:servicequotas:*:*:backup/*"))], name="scoped-list")
    assert outcome(lambda: scoped.client("service-quotas").list_service_quotas(ServiceCode="backup")) == "denied"


def test_iam_get_service_quota_acts_on_the_quota(aws, control):
    """Service Authorization Reference, Service Quotas: GetServiceQuota acts
    on the quota resource `arn:${Partition}:servicequotas:${Region}:
    ${Account}:${ServiceCode}/${QuotaCode}` (the ServiceQuota's QuotaArn)."""
    role = Role(aws, control, [policy(allow("servicequotas:GetServiceQuota", "arn:aws:servicequotas:*:*:backup/*"))])
    sq = role.client("service-quotas")
    assert sq.get_service_quota(ServiceCode="backup", QuotaCode="L-DRCTL-VAULTS")["Quota"]["Value"] == 300.0
    assert outcome(lambda: sq.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")) == "denied"
    log = control.get("/iam/decisions", f"account={aws.account}&denied=1")["decisions"]
    assert log[-1]["checks"][0]["resource"] == f"arn:aws:servicequotas:{REGION}:{aws.account}:vpc/L-F678F1CE"
