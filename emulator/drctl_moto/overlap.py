"""How many restore jobs of an account run at once, counted inside the
emulator: a restore job counts from its StartRestoreJob until the emulator
first reports it ended (COMPLETED, FAILED or ABORTED) to anyone. The peak
is kept per account until reset.

DynamoDB runs "up to 50 concurrent restores (any type of restore) in a
given account" (DynamoDB API Reference, RestoreTableFromBackup; the AWS
Backup quotas page lists no such quota), so drctl bounds its own restores;
a test proves the bound by this exact count rather than by sampling
ListRestoreJobs, which can miss a short overlap. quotas.py refuses a
StartRestoreJob past the account's ``concurrent_restores`` by this count.

``GET /_drctl/restores/overlap?account=A`` answers ``{"running": n,
"peak": m}``; ``DELETE`` resets the account's peak to what runs now.
"""

from __future__ import annotations

import threading


class RestoreOverlap:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._peak: dict[str, int] = {}

    def started(self, account: str) -> None:
        with self._lock:
            running = self._running.get(account, 0) + 1
            self._running[account] = running
            self._peak[account] = max(self._peak.get(account, 0), running)

    def ended(self, account: str) -> None:
        with self._lock:
            self._running[account] = max(0, self._running.get(account, 0) - 1)

    def get(self, account: str | None) -> dict[str, int]:
        if not account:
            raise ValueError("say which account: ?account=<12 digits>")
        with self._lock:
            return {"running": self._running.get(account, 0), "peak": self._peak.get(account, 0)}

    def reset(self, account: str | None) -> None:
        with self._lock:
            for key in [a for a in self._peak if account in (None, a)]:
                self._peak[key] = self._running.get(key, 0)


RESTORES = RestoreOverlap()
