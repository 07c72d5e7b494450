"""A fault that corrupts a restore: the next matching AWS Backup restore
job creates its table with one item removed (``drop_item``) or one non-key
attribute of one item changed (``flip_attribute``). Nothing in the job says
so; a check that compares the restored table with the source's contents at
the backup's instant must find it and name the item's key.

What was applied is kept (``GET /_drctl/restores/corrupt``): the table, the
kind, the item's key as DynamoDB JSON, and the attribute before and after.
The item is chosen by a seeded random (``seed``, default 0), so a run is
repeatable.
"""

from __future__ import annotations

import base64
import copy
import random
import threading
import time
import uuid
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType

_lock = threading.RLock()

KINDS = ("drop_item", "flip_attribute")

# The attribute added to an item that has none but its key.
ADDED_ATTRIBUTE = "drctl_corrupted"


class RestoreCorruptions:
    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.applied: list[dict[str, Any]] = []

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        table = spec.get("table")
        if not table:
            raise ValueError('say which restore: "table": "<target table name>" or "*"')
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError("kind must be drop_item or flip_attribute")
        rule = {
            "id": uuid.uuid4().hex[:12],
            "account": spec.get("account"),
            "table": str(table),
            "kind": kind,
            "times": int(spec.get("times", 1)),
            "seed": spec.get("seed", 0),
            # Only items whose partition key (a string) starts with this:
            # a test keeps the damage among items it knows stayed unchanged.
            "hash_key_prefix": spec.get("hash_key_prefix"),
            "fired": 0,
        }
        if rule["times"] < 1:
            raise ValueError("times must be at least 1")
        with _lock:
            self.rules.append(rule)
        return dict(rule)

    def take(self, account: str, table: str) -> dict[str, Any] | None:
        with _lock:
            for rule in self.rules:
                if rule["account"] and rule["account"] != account:
                    continue
                if rule["table"] not in ("*", table) or rule["fired"] >= rule["times"]:
                    continue
                rule["fired"] += 1
                taken = dict(rule)
                self.rules = [r for r in self.rules if r["fired"] < r["times"]]
                return taken
        return None

    def apply(self, account: str, region: str, table: Any, job_id: str) -> dict[str, Any] | None:
        """Corrupt ``table`` (just restored) if a rule says so; what was done."""
        rule = self.take(account, table.name)
        if rule is None:
            return None
        record = {
            "rule": rule["id"],
            "account": account,
            "region": region,
            "table": table.name,
            "restore_job_id": job_id,
            "kind": rule["kind"],
            "key": None,
            "at": time.time(),
        }
        items = table.all_items()
        prefix = rule.get("hash_key_prefix")
        if prefix:
            items = [i for i in items if str(i.hash_key.value).startswith(prefix)]
        if not items:
            record["note"] = "the restored table holds no item"
        else:
            item = random.Random(rule["seed"]).choice(items)
            record["key"] = _key_json(table, item)
            if rule["kind"] == "drop_item":
                table.delete_item(item.hash_key, item.range_key)
            else:
                record.update(_flip(table, item))
        with _lock:
            self.applied.append(record)
        return record

    def list(self, account: str | None = None) -> dict[str, Any]:
        with _lock:
            return {
                "rules": [dict(r) for r in self.rules if account is None or r["account"] in (None, account)],
                "applied": [dict(a) for a in self.applied if account is None or a["account"] == account],
            }

    def clear(self, account: str | None = None) -> None:
        with _lock:
            if account is None:
                self.rules.clear()
                self.applied.clear()
            else:
                self.rules = [r for r in self.rules if r["account"] != account]
                self.applied = [a for a in self.applied if a["account"] != account]


def _key_json(table: Any, item: Any) -> dict[str, Any]:
    out = {}
    for name in (table.hash_key_attr, table.range_key_attr):
        if name and name in item.attrs:
            out[name] = item.attrs[name].to_json()
    return out


def _flip(table: Any, item: Any) -> dict[str, Any]:
    """Changes one non-key attribute of ``item`` in place (the restored
    table's own copy): a string gets "~" appended, a number 1 added, a
    boolean negated, binary a byte appended; anything else becomes a
    string. An item with no non-key attribute gets one."""
    keys = {table.hash_key_attr, table.range_key_attr}
    names = sorted(n for n in item.attrs if n not in keys)
    if not names:
        item.attrs[ADDED_ATTRIBUTE] = DynamoType({"S": "1"})
        return {"attribute": ADDED_ATTRIBUTE, "before": None, "after": {"S": "1"}}
    preference = {"S": 0, "N": 1, "BOOL": 2, "B": 3}
    name = min(names, key=lambda n: (preference.get(item.attrs[n].type, 9), n))
    value = item.attrs[name]
    before = copy.deepcopy(value.to_json())
    if value.type == "S":
        after = {"S": value.value + "~"}
    elif value.type == "N":
        after = {"N": str(_number(value.value) + 1)}
    elif value.type == "BOOL":
        after = {"BOOL": not value.value}
    elif value.type == "B":
        raw = value.value
        if isinstance(raw, str):
            raw = base64.b64decode(raw)
        after = {"B": base64.b64encode(raw + b"~").decode()}
    else:
        after = {"S": "drctl-corrupted"}
    item.attrs[name] = DynamoType(after)
    return {"attribute": name, "before": before, "after": after}


def _number(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)


RESTORE_CORRUPTIONS = RestoreCorruptions()
