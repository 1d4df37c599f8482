"""Budget alerts (SPEC §12): a JSON POST to ``AUDIT_TRAIL_ALERT_WEBHOOK_URL`` when a project's
spend first reaches 80% and 100% of its budget in a period.

``BudgetAlerts.check_once`` looks at every project with a budget; for each threshold reached it
**claims** the alert in the database's shared state (one transaction: of the replicas checking
at once exactly one wins), sends it, retrying with backoff, and records it as sent, so each
threshold of each period is announced once across replicas and restarts. A claim whose sender
died is taken over after ``LEASE_SECONDS``; a receiver may therefore, rarely, see an alert twice
(after a crash between its 2xx and the record): the payload's ``id`` lets it deduplicate.
With ``AUDIT_TRAIL_ALERT_SECRET`` set, ``X-Llmtrail-Signature: sha256=<hex>`` is the
HMAC-SHA256 of the raw body with that secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from llmtrail.budgets import BudgetStatus
from llmtrail.model.wire import JSONDecimal, dumps, iso
from llmtrail.retention.schedule import whoami
from llmtrail.store.base import Store

log = logging.getLogger("llmtrail.alerts")
LEASE_SECONDS = 60.0
ATTEMPTS = 4  # per check; the next check tries again
BACKOFF = 0.5  # seconds, doubled after each failed attempt


def alert_id(status: BudgetStatus, threshold: Decimal) -> str:
    return f"{status.project_id}/{status.period_key()}/{int(threshold * 100)}"


def payload(status: BudgetStatus, threshold: Decimal, now: datetime) -> dict[str, Any]:
    """The JSON body of one alert."""
    return {
        "type": "budget.threshold",
        "id": alert_id(status, threshold),
        "projectId": status.project_id,
        "threshold": int(threshold * 100),
        **status.to_wire(),
        "used": JSONDecimal(status.used.quantize(Decimal("0.0001"))),
        "sentAt": iso(now),
    }


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class BudgetAlerts:
    """Checks budgets every ``seconds`` in a daemon thread (``start``), or when asked."""

    def __init__(
        self,
        store: Store,
        url: str,
        *,
        secret: str | None = None,
        seconds: float = 30.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.url = url
        self.secret = secret
        self.seconds = seconds
        self._client = client or httpx.Client(timeout=5.0)
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.seconds <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="llmtrail-alerts", daemon=True)
        self._thread.start()
        log.info("budget alerts to %s every %s s", self.url, self.seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.check_once()
            except Exception as e:  # a database outage must not end the thread
                log.warning("checking budgets failed (will retry): %s", e)

    def check_once(self) -> list[str]:
        """Send the alerts due now (those no replica has sent); the ids sent."""
        sent = []
        for project in self.store.list_projects():
            if project.budget is None:
                continue
            status = self.store.budget_status(project.id)
            if status is None:
                continue
            for threshold in status.crossed():
                if self._claim_and_send(status, threshold):
                    sent.append(alert_id(status, threshold))
        return sent

    def _claim_and_send(self, status: BudgetStatus, threshold: Decimal) -> bool:
        key = "budget.alert." + alert_id(status, threshold)
        now = self.store.clock()
        me = whoami()

        def decide(current: Any) -> Any:
            if isinstance(current, dict) and current.get("state") == "sent":
                return None
            if isinstance(current, dict) and current.get("state") == "sending":
                claimed = datetime.fromisoformat(current["at"])
                if now - claimed < timedelta(seconds=LEASE_SECONDS):
                    return None  # another replica is sending it
            return {"state": "sending", "at": now.isoformat(), "by": me}

        if not self.store.state.claim(key, decide):
            return False
        body = dumps(payload(status, threshold, now)).encode()
        if not self._deliver(body):
            return False  # the claim's lease expires: the next check (anyone's) retries
        record = {"state": "sent", "at": datetime.now(UTC).isoformat(), "by": me}
        self.store.state.write(key, record)
        log.info("budget alert sent: %s", alert_id(status, threshold))
        return True

    def _deliver(self, body: bytes) -> bool:
        headers = {"Content-Type": "application/json", "X-Llmtrail-Event": "budget.threshold"}
        if self.secret:
            headers["X-Llmtrail-Signature"] = signature(self.secret, body)
        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                r = self._client.post(self.url, content=body, headers=headers)
                if r.is_success:
                    return True
                problem = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                problem = f"{type(e).__name__}: {e}"
            log.warning("budget alert to %s failed (attempt %d): %s", self.url, attempt, problem)
            if attempt < ATTEMPTS:
                self._sleep(delay)
                delay *= 2
        return False
