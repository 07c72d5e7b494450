"""AWS Service Quotas for ServiceCode ``backup``: the APPLIED values of the
AWS Backup quotas the emulator enforces (quotas.py), per account.

Service Quotas API Reference, ListServiceQuotas: "Lists the applied quota
values for the specified AWS service"; GetServiceQuota: "Retrieves the
applied quota value for the specified account-level or resource-level
quota". So both answer ``QUOTAS.limit(account, key)``: AWS's default, or the
value set for the account through ``POST /_drctl/quotas`` (a stand-in for an
approved quota increase).

| QuotaName (AWS's, quotas.NAMES) | control key | default | Adjustable |
|---|---|---|---|
| Total vaults (backup and logically air-gapped) per Region per account | backup_vaults | 300 | true |
| Backup plans per Region per account | backup_plans | 300 | true |
| Resource assignments per backup plan | selections_per_plan | 100 | false |

Names, defaults and adjustability: the AWS Backup quotas page of the AWS
Backup Developer Guide (aws-backup-limits.html). ``concurrent_restores`` is
DynamoDB's, not an AWS Backup quota, and is not listed.

**The quota codes are the emulator's own**: AWS's QuotaCodes for these
quotas (``L-`` and eight hex digits) could not be confirmed from the
documentation at hand, so the emulator answers ``L-DRCTL-VAULTS``,
``L-DRCTL-PLANS`` and ``L-DRCTL-SELECTIONS``, which no real AWS answer
carries. A client must find a quota by its QuotaName, never by a code
written into it; a GetServiceQuota then uses the code the listing gave.

The shape follows the ServiceQuota data type: ServiceCode, ServiceName
("AWS Backup"), QuotaArn (``arn:PARTITION:servicequotas:REGION:ACCOUNT:
backup/CODE``, the quota resource type of the Service Authorization
Reference), QuotaCode, QuotaName, Value (a double, as the model types it),
Unit "None", Adjustable, GlobalQuota false.

ListServiceQuotas:
- ``MaxResults`` (1-100, the API reference's range; absent: every quota)
  and ``NextToken`` (opaque, base64 as the reference's pattern; one that
  this emulator did not give for this service code is
  ``InvalidPaginationTokenException``).
- ``QuotaCode`` narrows the list to that quota (none, for a code that is
  not one of the above: the emulator's choice).
- ``QuotaAppliedAtLevel``: ``ACCOUNT`` (the default) and ``ALL`` list the
  quotas; ``RESOURCE`` lists none (the emulator has no resource-level
  values).
- A ServiceCode other than ``backup`` is ``NoSuchResourceException``
  (HTTP 400, JSON ``__type``), which the API reference lists for
  ListServiceQuotas (moto's own message).

GetServiceQuota for ``backup``: the quota of that code, or
``NoSuchResourceException``; for any other ServiceCode moto's own handler
answers (moto knows ``vpc``'s defaults).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from moto.core.exceptions import JsonRESTError

from . import quotas

SERVICE_CODE = "backup"
SERVICE_NAME = "AWS Backup"

# (control key in quotas.py, the emulator's QuotaCode, Adjustable on AWS)
BACKUP_QUOTAS: list[tuple[str, str, bool]] = [
    ("backup_vaults", "L-DRCTL-VAULTS", True),
    ("backup_plans", "L-DRCTL-PLANS", True),
    ("selections_per_plan", "L-DRCTL-SELECTIONS", False),
]

LEVELS = ("ACCOUNT", "RESOURCE", "ALL")


class NoSuchResourceException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("NoSuchResourceException", message)


class InvalidPaginationTokenException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("InvalidPaginationTokenException", message)


class IllegalArgumentException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("IllegalArgumentException", message)


def _unknown_service() -> NoSuchResourceException:
    # moto's NoSuchResource text, as its ListAWSDefaultServiceQuotas answers.
    return NoSuchResourceException(
        "This service is not available in the current Region. Choose a different Region or a different service."
    )


def quota(account: str, region: str, key: str, code: str, adjustable: bool) -> dict[str, Any]:
    """One quota as the ServiceQuota data type, with the account's applied value."""
    from moto.utilities.utils import get_partition

    return {
        "ServiceCode": SERVICE_CODE,
        "ServiceName": SERVICE_NAME,
        "QuotaArn": f"arn:{get_partition(region)}:servicequotas:{region}:{account}:{SERVICE_CODE}/{code}",
        "QuotaCode": code,
        "QuotaName": quotas.NAMES[key],
        "Value": float(quotas.QUOTAS.limit(account, key)),
        "Unit": "None",
        "Adjustable": adjustable,
        "GlobalQuota": False,
    }


def backup_quotas(account: str, region: str) -> list[dict[str, Any]]:
    return [quota(account, region, key, code, adjustable) for key, code, adjustable in BACKUP_QUOTAS]


def _token(service_code: str, offset: int) -> str:
    return base64.b64encode(json.dumps({"s": service_code, "o": offset}).encode()).decode()


def _offset(token: str, service_code: str, total: int) -> int:
    try:
        decoded = json.loads(base64.b64decode(token.encode(), validate=True))
        offset = decoded["o"]
        same = decoded["s"] == service_code
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidPaginationTokenException("Invalid pagination token.") from None
    if not same or isinstance(offset, bool) or not isinstance(offset, int) or not 0 < offset <= total:
        raise InvalidPaginationTokenException("Invalid pagination token.")
    return offset


def list_service_quotas(self) -> str:
    """ServiceQuotasResponse.list_service_quotas (X-Amz-Target
    ServiceQuotasV20190624.ListServiceQuotas)."""
    params = json.loads(self.body or "{}")
    service_code = params.get("ServiceCode")
    if service_code != SERVICE_CODE:
        raise _unknown_service()
    max_results = params.get("MaxResults")
    if max_results is not None and (isinstance(max_results, bool) or not isinstance(max_results, int)
                                    or not 1 <= max_results <= 100):
        raise IllegalArgumentException("MaxResults must be between 1 and 100.")
    level = params.get("QuotaAppliedAtLevel") or "ACCOUNT"
    if level not in LEVELS:
        raise IllegalArgumentException(f"QuotaAppliedAtLevel must be one of {', '.join(LEVELS)}.")
    found = [] if level == "RESOURCE" else backup_quotas(self.current_account, self.region)
    if params.get("QuotaCode"):
        found = [q for q in found if q["QuotaCode"] == params["QuotaCode"]]
    start = _offset(params["NextToken"], service_code, len(found)) if params.get("NextToken") else 0
    end = len(found) if max_results is None else min(len(found), start + max_results)
    answer: dict[str, Any] = {"Quotas": found[start:end]}
    if end < len(found):
        answer["NextToken"] = _token(service_code, end)
    return json.dumps(answer)


def wrap_get_service_quota(moto_get: Any) -> Any:
    def get_service_quota(self) -> str:
        """``backup`` from the emulator's quotas; other service codes: moto."""
        params = json.loads(self.body or "{}")
        if params.get("ServiceCode") != SERVICE_CODE:
            return moto_get(self)
        code = params.get("QuotaCode")
        for found in backup_quotas(self.current_account, self.region):
            if found["QuotaCode"] == code:
                return json.dumps({"Quota": found})
        raise NoSuchResourceException(f"The quota {code} of service {SERVICE_CODE} does not exist.")

    get_service_quota.__drctl__ = True  # type: ignore[attr-defined]
    get_service_quota.__wrapped__ = moto_get  # type: ignore[attr-defined]
    return get_service_quota


def install() -> None:
    from moto.servicequotas.responses import ServiceQuotasResponse

    if not getattr(ServiceQuotasResponse.get_service_quota, "__drctl__", False):
        ServiceQuotasResponse.get_service_quota = wrap_get_service_quota(ServiceQuotasResponse.get_service_quota)
    list_service_quotas.__drctl__ = True  # type: ignore[attr-defined]
    ServiceQuotasResponse.list_service_quotas = list_service_quotas
