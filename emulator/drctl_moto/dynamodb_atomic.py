"""Atomic DynamoDB writes: moto checks a ConditionExpression and then stores
the item as two separate steps, so under the threaded server two concurrent
conditional writes of one key can both pass their check and both "win".
DynamoDB itself evaluates the condition and writes atomically, and drctl's
leases (``--state dynamodb://TABLE``) rely on that. One process-wide lock
around every write path restores it; reads stay lock-free (an item is
replaced by one dict assignment, which readers see whole).
"""

from __future__ import annotations

import functools
import threading

# Every DynamoDBBackend entry point that reads an item and writes it back.
# BatchWriteItem and the PartiQL transaction/batch calls go through these.
WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items", "execute_statement")

_lock = threading.RLock()
LOCK = _lock  # for the extension's other hooks on the same write paths (pitr.py)


def _serialised(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    locked.__drctl_atomic__ = True
    return locked


def install() -> None:
    """Wraps the write methods once (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in WRITE_METHODS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__drctl_atomic__", False):
            setattr(DynamoDBBackend, name, _serialised(method))
