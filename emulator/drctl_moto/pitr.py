"""Point-in-time recovery with a real item history.

moto keeps only a table's current items: RestoreTableToPointInTime copies
them whatever the time asked, and DescribeContinuousBackups reports the
instant PITR was enabled as the latest restorable time. drctl proves
restores of live tables against the table's contents at given instants, so
the emulator keeps, for every table with PITR enabled, the history of its
writes and can rebuild the table as of any instant since PITR was enabled.

How the history stays small: moto replaces an item object on PutItem and
drops it on DeleteItem; only UpdateItem changes an item in place. For a
table with a history, UpdateItem first swaps the stored item for a copy of
itself (copy on write), so an item object, once written, never changes.
The history then holds references to those objects: the state when PITR was
enabled (a dict of references, no copy) and, per key, the list of
``(time, item or None)`` written since. A write costs one list entry (and,
for UpdateItem, the copy of one item); the table is never copied.

Every write path of moto's backend ends in ``Table.put_item``,
``Table.delete_item`` or ``DynamoDBBackend.update_item``: PutItem,
DeleteItem, BatchWriteItem, PartiQL (ExecuteStatement, ExecuteTransaction,
BatchExecuteStatement) and TransactWriteItems. A transaction's writes are
held back and recorded together, with one time, when it commits; a
cancelled transaction (moto puts the tables back) records nothing.

Disabling PITR (or deleting the table) drops the history, as on AWS. An
object that still needs it (a backup cut at a later instant, see
``Cut``) keeps its own reference; the history then no longer changes.
"""

from __future__ import annotations

import copy
import threading
import time
from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from . import dynamodb_atomic

# "LatestRestorableDateTime is typically 5 minutes before the current time."
# (DynamoDB API Reference, PointInTimeRecoveryDescription.)
DEFAULT_LAG_SECONDS = 300.0

# How often (in recorded writes) a history checks whether it can forget
# what lies before its recovery period.
COMPACT_EVERY = 1024

_state = threading.local()
_lock = threading.RLock()  # the registry and settings (not the writes)

Key = tuple  # (hash DynamoType, range DynamoType | None)


# ---------------------------------------------------------------------------
# Settings (control API: /_drctl/pitr)


class Settings:
    """Lag of LatestRestorableDateTime and an optional cap on how far back a
    history reaches, for everybody or per account."""

    def __init__(self) -> None:
        self.lag: dict[str | None, float] = {}
        self.retention: dict[str | None, float] = {}

    def set(self, account: str | None, lag: Any = None, retention: Any = None) -> dict[str, Any]:
        with _lock:
            if lag is not None:
                lag = float(lag)
                if lag < 0:
                    raise ValueError("lag_seconds must be 0 or more")
                self.lag[account] = lag
            if retention is not None:
                retention = float(retention)
                if retention <= 0:
                    raise ValueError("retention_seconds must be more than 0")
                self.retention[account] = retention
            return self.get(account)

    def lag_for(self, account: str | None) -> float:
        with _lock:
            if account in self.lag:
                return self.lag[account]
            return self.lag.get(None, DEFAULT_LAG_SECONDS)

    def retention_for(self, account: str | None) -> float | None:
        with _lock:
            if account in self.retention:
                return self.retention[account]
            return self.retention.get(None)

    def get(self, account: str | None) -> dict[str, Any]:
        return {"account": account, "lag_seconds": self.lag_for(account),
                "retention_seconds": self.retention_for(account)}

    def clear(self, account: str | None = None) -> None:
        with _lock:
            if account is None:
                self.lag.clear()
                self.retention.clear()
            else:
                self.lag.pop(account, None)
                self.retention.pop(account, None)


SETTINGS = Settings()


# ---------------------------------------------------------------------------
# One table's history


def _key_of(item: Any) -> Key:
    return (item.hash_key, item.range_key)


class TableHistory:
    def __init__(self, table: Any, enabled_at: float):
        self.table_arn = table.table_arn
        self.table_name = table.name
        self.account = table.account_id
        self.region = table.region_name
        self.created_at = table.created_at
        self.has_range = table.range_key_attr is not None
        self.enabled_at = enabled_at
        # What the history no longer tells apart lies at or before base_at.
        self.base_at = enabled_at
        self.base: dict[Key, Any] = {_key_of(item): item for item in _iter_items(table)}
        self.entries: dict[Key, list[tuple[float, Any]]] = {}
        self.writes = 0
        self.detached_at: float | None = None
        self.lock = threading.Lock()

    # -- writing ------------------------------------------------------------
    def record(self, changes: list[tuple[Key, Any]], at: float) -> None:
        with self.lock:
            for key, item in changes:
                self.entries.setdefault(key, []).append((at, item))
            self.writes += len(changes)
            due = self.writes % COMPACT_EVERY < len(changes)
        if due:
            self.compact_to_retention(at)

    def compact_to_retention(self, now: float) -> None:
        retention = SETTINGS.retention_for(self.account)
        if retention is None:
            retention = self.recovery_period_days * 86400.0
        cutoff = now - retention
        if cutoff > self.base_at:
            self.compact(cutoff)

    recovery_period_days = 35

    def compact(self, cutoff: float) -> None:
        """Forget the detail before ``cutoff``: what was written until then
        becomes the base."""
        with self.lock:
            for key in list(self.entries):
                entries = self.entries[key]
                i = bisect_right(entries, cutoff, key=lambda e: e[0])
                if not i:
                    continue
                last = entries[i - 1][1]
                if last is None:
                    self.base.pop(key, None)
                else:
                    self.base[key] = last
                if i == len(entries):
                    del self.entries[key]
                else:
                    self.entries[key] = entries[i:]
            self.base_at = max(self.base_at, cutoff)

    # -- reading ------------------------------------------------------------
    @property
    def earliest(self) -> float:
        return self.base_at

    def state_at(self, instant: float) -> dict[Key, Any]:
        """The table's items (shared, never to be changed) as of ``instant``:
        every write recorded at or before it, none after. An instant before
        the history's start gives its first state."""
        with self.lock:
            out = dict(self.base)
            for key, entries in self.entries.items():
                i = bisect_right(entries, instant, key=lambda e: e[0])
                if not i:
                    continue
                item = entries[i - 1][1]
                if item is None:
                    out.pop(key, None)
                else:
                    out[key] = item
            return out

    def items_at(self, instant: float) -> list[Any]:
        """As ``state_at``, ordered as moto orders a table's items."""
        items = list(self.state_at(instant).values())
        items.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
        return items

    def table_items_at(self, instant: float) -> Any:
        """A fresh ``Table.items`` structure (copies of the items) as of
        ``instant``, for a table that will be written to."""
        out: Any = defaultdict(dict)
        for (hash_key, range_key), item in self.state_at(instant).items():
            fresh = copy.deepcopy(item)
            if self.has_range:
                out[hash_key][range_key] = fresh
            else:
                out[hash_key] = fresh
        return out

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "table": self.table_name,
                "table_arn": self.table_arn,
                "account": self.account,
                "region": self.region,
                "enabled_at": self.enabled_at,
                "earliest": self.base_at,
                "base_items": len(self.base),
                "keys_written": len(self.entries),
                "entries": sum(len(v) for v in self.entries.values()),
                "detached_at": self.detached_at,
            }


def _iter_items(table: Any) -> Iterator[Any]:
    for value in list(table.items.values()):
        if table.range_key_attr:
            yield from list(value.values())
        else:
            yield value


# ---------------------------------------------------------------------------
# The registry: table ARN -> history


_histories: dict[str, TableHistory] = {}


def history_of(table: Any) -> TableHistory | None:
    """The history of this very table (not of an older one of its name)."""
    history = _histories.get(getattr(table, "table_arn", None))
    if history is None or history.created_at != table.created_at:
        return None
    return history


def pitr_enabled(table: Any) -> bool:
    desc = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
    return desc.get("PointInTimeRecoveryStatus") == "ENABLED"


def ensure_history(table: Any) -> TableHistory | None:
    """The history of a table with PITR enabled (started now if the table
    got PITR some way the hooks did not see); None without PITR."""
    if not pitr_enabled(table):
        return None
    with _lock:
        history = history_of(table)
        if history is None:
            desc = table.continuous_backups["PointInTimeRecoveryDescription"]
            enabled = float(desc.get("EarliestRestorableDateTime") or time.time())
            with dynamodb_atomic.LOCK:
                history = TableHistory(table, enabled)
            _histories[table.table_arn] = history
        return history


def start_history(table: Any, enabled_at: float) -> TableHistory:
    with _lock, dynamodb_atomic.LOCK:
        history = TableHistory(table, enabled_at)
        _histories[table.table_arn] = history
        return history


def drop_history(table: Any) -> None:
    with _lock:
        history = history_of(table)
        if history is not None:
            history.detached_at = time.time()
            del _histories[table.table_arn]


def all_stats(account: str | None = None) -> list[dict[str, Any]]:
    with _lock:
        return [h.stats() for h in _histories.values() if account is None or h.account == account]


# ---------------------------------------------------------------------------
# Restorable window


def window(table: Any, account: str | None = None) -> tuple[float, float]:
    """[EarliestRestorableDateTime, LatestRestorableDateTime] of a table
    with PITR enabled."""
    history = ensure_history(table)
    now = time.time()
    if history is None:
        return now, now
    history.compact_to_retention(now)
    earliest = history.earliest
    period = table.continuous_backups["PointInTimeRecoveryDescription"].get("RecoveryPeriodInDays")
    if period:
        earliest = max(earliest, now - float(period) * 86400.0)
    latest = max(earliest, now - SETTINGS.lag_for(account or table.account_id))
    return earliest, latest


def describe(table: Any, description: dict[str, Any]) -> dict[str, Any]:
    """A ContinuousBackupsDescription with the window as it is now."""
    out = copy.deepcopy(description)
    pitr = out.get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
        earliest, latest = window(table)
        pitr["EarliestRestorableDateTime"] = earliest
        pitr["LatestRestorableDateTime"] = latest
    return out


# ---------------------------------------------------------------------------
# Recording (hooks on moto's write paths)


def _suppressed() -> bool:
    return getattr(_state, "suppress", 0) > 0


def _journal() -> list | None:
    return getattr(_state, "journal", None)


def record(table: Any, key: Key, item: Any) -> None:
    """Note that ``key`` of ``table`` now holds ``item`` (None: deleted)."""
    history = history_of(table)
    if history is None:
        return
    journal = _journal()
    if journal is not None:
        journal.append((history, key, item))
    else:
        history.record([(key, item)], time.time())


def _wrap_table_put(original: Callable) -> Callable:
    def put_item(self, *args, **kwargs):
        item = original(self, *args, **kwargs)
        if not _suppressed() and item is not None:
            record(self, _key_of(item), item)
        return item

    put_item.__drctl_pitr__ = True
    return put_item


def _wrap_table_delete(original: Callable) -> Callable:
    def delete_item(self, hash_key, range_key=None, *args, **kwargs):
        item = original(self, hash_key, range_key, *args, **kwargs)
        if not _suppressed() and item is not None:
            record(self, _key_of(item), None)
        return item

    delete_item.__drctl_pitr__ = True
    return delete_item


def _wrap_update_item(original: Callable) -> Callable:
    def update_item(self, table_name, key, *args, **kwargs):
        with dynamodb_atomic.LOCK:
            table = self.get_table(table_name)
            history = history_of(table)
            if history is None:
                return original(self, table_name, key, *args, **kwargs)
            hash_key, range_key = _keys(self, table, key)
            current = table.get_item(hash_key, range_key) if hash_key is not None else None
            if current is not None:  # copy on write: the recorded object stays as it was
                fresh = copy.deepcopy(current)
                if table.range_key_attr:
                    table.items[hash_key][range_key] = fresh
                else:
                    table.items[hash_key] = fresh
            _state.suppress = getattr(_state, "suppress", 0) + 1
            try:
                item = original(self, table_name, key, *args, **kwargs)
            finally:
                _state.suppress -= 1
            if item is not None:
                record(table, _key_of(item), item)
            return item

    update_item.__drctl_pitr__ = True
    return update_item


def _keys(backend: Any, table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    try:
        return backend.get_keys_value(table, key)
    except Exception:  # moto's own validation will answer
        return None, None


def _wrap_transaction(original: Callable) -> Callable:
    def transact_write_items(self, *args, **kwargs):
        with dynamodb_atomic.LOCK:
            outer = _journal()
            if outer is not None:  # nested: the outer one commits
                return original(self, *args, **kwargs)
            _state.journal = []
            try:
                result = original(self, *args, **kwargs)
                journal = _state.journal
            finally:
                _state.journal = None
            at = time.time()
            by_history: dict[int, tuple[TableHistory, list]] = {}
            for history, key, item in journal:
                by_history.setdefault(id(history), (history, []))[1].append((key, item))
            for history, changes in by_history.values():
                history.record(changes, at)
            return result

    transact_write_items.__drctl_pitr__ = True
    return transact_write_items


def _wrap_update_continuous_backups(original: Callable) -> Callable:
    def update_continuous_backups(self, table_name, point_in_time_spec, *args, **kwargs):
        with dynamodb_atomic.LOCK:
            table = self.get_table(table_name) if table_name in self.tables else None
            was = table is not None and pitr_enabled(table)
            result = original(self, table_name, point_in_time_spec, *args, **kwargs)
            table = self.get_table(table_name)
            now_on = pitr_enabled(table)
            if now_on and not was:
                desc = table.continuous_backups["PointInTimeRecoveryDescription"]
                start_history(table, float(desc.get("EarliestRestorableDateTime") or time.time()))
            elif was and not now_on:
                drop_history(table)
            return describe(table, result)

    update_continuous_backups.__drctl_pitr__ = True
    return update_continuous_backups


def _wrap_describe_continuous_backups(original: Callable) -> Callable:
    def describe_continuous_backups(self, table_name, *args, **kwargs):
        result = original(self, table_name, *args, **kwargs)
        return describe(self.get_table(table_name), result)

    describe_continuous_backups.__drctl_pitr__ = True
    return describe_continuous_backups


def _wrap_delete_table(original: Callable) -> Callable:
    def delete_table(self, name, *args, **kwargs):
        with dynamodb_atomic.LOCK:
            table = self.tables.get(name)
            result = original(self, name, *args, **kwargs)
            if table is not None:
                drop_history(table)
            return result

    delete_table.__drctl_pitr__ = True
    return delete_table


# ---------------------------------------------------------------------------
# Backups cut at an instant (control API: /_drctl/backups/cut)


class CutRules:
    """Where inside its consistency window a backup of a table with PITR is
    cut: ``start`` (created − margin), ``end`` (completed + margin) or
    ``middle``. A rule names a table (or ``*``) and, optionally, an account;
    the newest matching rule wins; rules stay until cleared."""

    AT = ("start", "middle", "end")

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        table = spec.get("table")
        if not table:
            raise ValueError('say which table: "table": "<name>" or "*"')
        at = spec.get("at", "start")
        if at not in self.AT:
            raise ValueError("at must be start, middle or end")
        margin = float(spec.get("margin_seconds", 60))
        if margin < 0:
            raise ValueError("margin_seconds must be 0 or more")
        rule = {"account": spec.get("account"), "table": str(table), "at": at, "margin_seconds": margin}
        with _lock:
            self.rules.append(rule)
        return rule

    def find(self, account: str, table: str) -> dict[str, Any] | None:
        with _lock:
            for rule in reversed(self.rules):
                if rule["account"] and rule["account"] != account:
                    continue
                if rule["table"] in ("*", table):
                    return dict(rule)
        return None

    def list(self) -> list[dict[str, Any]]:
        with _lock:
            return [dict(r) for r in self.rules]

    def clear(self, account: str | None = None) -> None:
        with _lock:
            self.rules = [r for r in self.rules if account is not None and r["account"] != account]


CUT_RULES = CutRules()


def cut_instant(rule: dict[str, Any], created: float, completed: float) -> float:
    margin = rule["margin_seconds"]
    start, end = created - margin, completed + margin
    return {"start": start, "end": end, "middle": (start + end) / 2.0}[rule["at"]]


class Cut:
    """The contents of one DynamoDB backup, taken from a history as of
    ``instant`` when first needed (the instant may lie after the backup's
    completion). ``after`` runs on the materialised table (e.g. a fault that
    leaves items out)."""

    def __init__(self, history: TableHistory, rule: dict[str, Any],
                 after: Callable[[Any], None] | None = None):
        self.history = history
        self.rule = rule
        self.after = after
        self.instant: float | None = None
        self.done = False
        self.lock = threading.Lock()

    def place(self, created: float, completed: float) -> float:
        self.instant = cut_instant(self.rule, created, completed)
        return self.instant

    def ready(self) -> bool:
        return self.done or (self.instant is not None and time.time() >= self.instant)

    def materialise(self, backup: Any) -> bool:
        """Fill ``backup.table`` with the table as of the instant (once).
        False while the instant is still ahead."""
        with self.lock:
            if self.done:
                return True
            if not self.ready():
                return False
            backup.table.items = self.history.table_items_at(max(self.instant, self.history.earliest))
            if self.after is not None:
                self.after(backup.table)
            self.done = True
            self.history = None  # type: ignore[assignment]  # let it go
            return True

    def to_dict(self) -> dict[str, Any]:
        return {**self.rule, "instant": self.instant, "materialised": self.done}


# DynamoDB backups (by ARN) whose contents are a pending cut: CreateBackup
# with a cut rule, and the backups behind AWS Backup recovery points.
PENDING: dict[str, Cut] = {}


def pending_cut(backup_arn: str) -> Cut | None:
    with _lock:
        cut = PENDING.get(backup_arn)
        return None if cut is None or cut.done else cut


def settle_backup(backup: Any) -> bool:
    """Materialise a backup's pending cut if its instant has passed. False
    if the backup cannot be used yet."""
    cut = PENDING.get(backup.arn)
    if cut is None or cut.done:
        return True
    ok = cut.materialise(backup)
    if ok:
        with _lock:
            PENDING.pop(backup.arn, None)
    return ok


# ---------------------------------------------------------------------------
# RestoreTableToPointInTime and CreateBackup (DynamoDB API)


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


def _exceptions():
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb import exceptions

    class InvalidRestoreTimeException(JsonRESTError):
        def __init__(self, message: str):
            super().__init__(exceptions.ERROR_TYPE_PREFIX + "InvalidRestoreTimeException", message)

    class BackupInUseException(JsonRESTError):
        def __init__(self, message: str):
            super().__init__(exceptions.ERROR_TYPE_PREFIX + "BackupInUseException", message)

    return InvalidRestoreTimeException, BackupInUseException


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def point_in_time_table(backend: Any, target: str, source: Any, history: TableHistory,
                        instant: float) -> Any:
    """A new table restored from ``source``'s history as of ``instant``
    (moto's RestoredPITTable, with the items of that instant)."""
    from moto.dynamodb.models.table import RestoredPITTable, Table

    table = RestoredPITTable.__new__(RestoredPITTable)
    params = RestoredPITTable._parse_params_from_table(table, source)
    Table.__init__(table, target, account_id=backend.account_id, region=backend.region_name,
                   billing_mode=source.billing_mode, **params)
    table.indexes = copy.deepcopy(source.indexes)
    table.global_indexes = copy.deepcopy(source.global_indexes)
    table.items = history.table_items_at(instant)
    table.source_table_arn = source.table_arn
    # RestoreSummary.RestoreDateTime: "Point in time or source backup time."
    table.restore_date_time = datetime.fromtimestamp(instant, tz=timezone.utc).replace(tzinfo=None)
    return table


def restore_table_to_point_in_time(self: Any) -> Any:
    """DynamoHandler.RestoreTableToPointInTime honouring RestoreDateTime /
    UseLatestRestorableTime."""
    from moto.dynamodb.exceptions import (
        MockValidationException,
        PointInTimeRecoveryUnavailable,
        SourceTableNotFoundException,
        TableAlreadyExistsException,
    )
    from moto.dynamodb.responses import DynamoResult

    invalid_time, _ = _exceptions()
    body = self.body
    backend = self.dynamodb_backend
    target = body.get("TargetTableName")
    name, arn = body.get("SourceTableName"), body.get("SourceTableArn")
    with dynamodb_atomic.LOCK:
        if name:
            source = backend.tables.get(name)
        else:
            source = next((t for t in backend.tables.values() if t.table_arn == arn), None)
        if source is None:
            raise SourceTableNotFoundException(name or arn)
        if target in backend.tables:
            raise TableAlreadyExistsException(target)
        if not pitr_enabled(source):
            raise PointInTimeRecoveryUnavailable(name=source.name)
        use_latest = bool(body.get("UseLatestRestorableTime"))
        when = _epoch(body.get("RestoreDateTime"))
        if use_latest and when is not None:
            raise MockValidationException(
                "Only one of RestoreDateTime or UseLatestRestorableTime may be specified"
            )
        history = ensure_history(source)
        earliest, latest = window(source)
        if use_latest:
            when = latest
        elif when is None:
            raise MockValidationException(
                "Either RestoreDateTime or UseLatestRestorableTime must be specified"
            )
        if when < earliest or when > latest:
            raise invalid_time(
                "An invalid restore time was specified. RestoreDateTime must be between "
                f"EarliestRestorableDateTime ({_iso(earliest)}) and LatestRestorableDateTime "
                f"({_iso(latest)}); asked {_iso(when)}"
            )
    # Copying the items takes a while on a big table: writers are not held up.
    table = point_in_time_table(backend, target, source, history, when)
    with dynamodb_atomic.LOCK:
        if target in backend.tables:
            raise TableAlreadyExistsException(target)
        backend.tables[target] = table
    return DynamoResult(table.describe())


def create_backup(self: Any) -> Any:
    """DynamoHandler.CreateBackup: a table with PITR and a cut rule gets a
    backup cut at start (requested − margin), middle (requested) or end
    (requested + margin); it is CREATING until that instant has passed."""
    from moto.core.utils import unix_time
    from moto.dynamodb.responses import DynamoResult

    backend = self.dynamodb_backend
    backup = backend.create_backup(self.body.get("TableName"), self.body.get("BackupName"))
    table = backend.tables.get(backup.table.name)
    history = history_of(table) if table is not None else None
    rule = CUT_RULES.find(backend.account_id, backup.table.name) if history is not None else None
    if rule is not None:
        cut = Cut(history, rule)
        created = unix_time(backup.creation_date_time)
        cut.place(created, created)
        with _lock:
            PENDING[backup.arn] = cut
        settle_backup(backup)
    return DynamoResult({"BackupDetails": backup.details})


def _wrap_restore_table_from_backup(original: Callable) -> Callable:
    def restore_table_from_backup(self, target_table_name, backup_arn, *args, **kwargs):
        backup = self.get_backup(backup_arn)
        if not settle_backup(backup):
            _, in_use = _exceptions()
            raise in_use(f"Backup {backup_arn} is being created")
        return original(self, target_table_name, backup_arn, *args, **kwargs)

    restore_table_from_backup.__drctl_pitr__ = True
    return restore_table_from_backup


def _backup_status_property() -> property:
    """Backup.status: CREATING while its cut instant is still ahead (then
    materialised on the first read after it)."""

    def get(self: Any) -> str:
        stored = self.__dict__.get("_drctl_status", "AVAILABLE")
        if stored == "AVAILABLE" and self.__dict__.get("identifier") and self.arn in PENDING:
            if not settle_backup(self):
                return "CREATING"
        return stored

    def set_(self: Any, value: str) -> None:
        self.__dict__["_drctl_status"] = value

    prop = property(get, set_)
    prop.fget.__drctl_pitr__ = True  # type: ignore[attr-defined]
    return prop


# ---------------------------------------------------------------------------


def reset(account: str | None = None) -> None:
    SETTINGS.clear(account)
    CUT_RULES.clear(account)


def install() -> None:
    """Hooks moto's write paths and PITR calls (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Backup, Table
    from moto.dynamodb.responses import DynamoHandler

    DynamoHandler.restore_table_to_point_in_time = restore_table_to_point_in_time
    DynamoHandler.create_backup = create_backup
    if not isinstance(Backup.__dict__.get("status"), property):
        Backup.status = _backup_status_property()
    for cls, name, wrap in (
        (Table, "put_item", _wrap_table_put),
        (Table, "delete_item", _wrap_table_delete),
        (DynamoDBBackend, "update_item", _wrap_update_item),
        (DynamoDBBackend, "transact_write_items", _wrap_transaction),
        (DynamoDBBackend, "update_continuous_backups", _wrap_update_continuous_backups),
        (DynamoDBBackend, "describe_continuous_backups", _wrap_describe_continuous_backups),
        (DynamoDBBackend, "delete_table", _wrap_delete_table),
        (DynamoDBBackend, "restore_table_from_backup", _wrap_restore_table_from_backup),
    ):
        method = cls.__dict__[name]
        if not getattr(method, "__drctl_pitr__", False):
            setattr(cls, name, wrap(method))
