"""AWS Backup's quotas, enforced per account with AWS's defaults and
adjustable per account through ``/_drctl/quotas``.

- ``backup_vaults`` (300, per Region): AWS Backup quotas page, "Total vaults
  (backup and logically air-gapped) per Region per account", adjustable.
  moto has no logically air-gapped vaults, so every vault of a Region counts.
- ``backup_plans`` (300, per Region): "Backup plans per Region per account",
  adjustable. A deleted plan (moto keeps it with a DeletionDate) does not count.
- ``selections_per_plan`` (100): "Resource assignments per backup plan",
  not adjustable on AWS (adjustable here, so a test need not create 100).
- ``concurrent_restores`` (50, per account): DynamoDB's "up to 50 concurrent
  restores (any type of restore) in a given account" (API_RestoreTableFromBackup).
  Counted over the account's AWS Backup restore jobs (overlap.RESTORES: from
  StartRestoreJob until the job is first reported ended).

LimitExceededException is among the errors AWS's API reference lists for
CreateBackupVault, CreateBackupPlan and CreateBackupSelection. AWS's docs do
not say what StartRestoreJob does past DynamoDB's limit (its API reference
lists no LimitExceededException, and no page says the job fails instead):
answering LimitExceededException there is the emulator's choice.

The limit is checked when a create would add one more; a request that adds
nothing (a duplicate name, a repeated IdempotencyToken) gets the answer it
got before. Deleting a vault, plan or selection, or a restore job's end,
frees its slot.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.backup.exceptions import BackupClientError

from . import faults

DEFAULTS: dict[str, int] = {
    "backup_vaults": 300,
    "backup_plans": 300,
    "selections_per_plan": 100,
    "concurrent_restores": 50,
}

# AWS's names of the quotas, for the error message (and a stack's status reason).
NAMES: dict[str, str] = {
    "backup_vaults": "Total vaults (backup and logically air-gapped) per Region per account",
    "backup_plans": "Backup plans per Region per account",
    "selections_per_plan": "Resource assignments per backup plan",
    "concurrent_restores": "Concurrent restores (any type of restore) per account",
}


class LimitExceededException(BackupClientError):
    """AWS Backup's LimitExceededException (HTTP 400, x-amzn-ErrorType), with
    the rest-json body the emulator's other Backup errors carry."""

    def __init__(self, message: str):
        super().__init__("LimitExceededException", message)
        _, _, body = faults.wire_error("rest-json", "backup", "LimitExceededException", message, 400)
        self.description = body.decode()


class Quotas:
    """Per account: the values set through the control API over AWS's defaults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set: dict[str, dict[str, int]] = {}

    def get(self, account: str | None) -> dict[str, Any]:
        if not account:
            raise ValueError("say which account: ?account=<12 digits>")
        with self._lock:
            return {"account": account, **DEFAULTS, **self._set.get(account, {})}

    def set(self, account: str | None, spec: dict[str, Any]) -> dict[str, Any]:
        """Sets the quotas ``spec`` names (``account`` aside); the others keep their values."""
        if not account:
            raise ValueError("say which account: {\"account\": \"<12 digits>\", ...}")
        values = {k: v for k, v in spec.items() if k != "account"}
        for key, value in values.items():
            if key not in DEFAULTS:
                raise ValueError(f"unknown quota {key!r}: {', '.join(DEFAULTS)}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} must be a whole number, 0 or more")
        with self._lock:
            self._set.setdefault(account, {}).update(values)
        return self.get(account)

    def reset(self, account: str | None) -> None:
        """Back to AWS's defaults (for every account without one)."""
        with self._lock:
            if account is None:
                self._set.clear()
            else:
                self._set.pop(account, None)

    def limit(self, account: str, quota: str) -> int:
        with self._lock:
            return self._set.get(account, {}).get(quota, DEFAULTS[quota])


QUOTAS = Quotas()


def check(account: str, quota: str, used: int, detail: str = "") -> None:
    """Raises LimitExceededException when ``used`` already fills the quota,
    so one more would exceed it. Callers hold backup_models.LOCK over the
    check and the create, so two concurrent creates cannot both pass."""
    limit = QUOTAS.limit(account, quota)
    if used >= limit:
        raise LimitExceededException(
            f"{NAMES[quota]}: the quota of {limit} is reached" + (f" ({detail})" if detail else "")
        )
