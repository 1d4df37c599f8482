"""The one store interface every backend implements, and the logic all of them share.

Public methods validate input (through ``llmtrail.model``) and then call a few small
backend primitives (the ``_``-prefixed abstract methods). A backend is one module beside the
others; the contract test suite in ``tests/contract`` is what each must pass.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmtrail.analytics import (
    Analytics,
    Usage,
    Window,
    build,
    groups_of_models,
    groups_of_trails,
    make_window,
    parse_group_by,
    usage_of_trails,
)
from llmtrail.errors import AuditTrailError, ConflictError, NotFoundError, ValidationError
from llmtrail.model import (
    AccessEntry,
    AccessPage,
    ApiKey,
    AuditTrail,
    Budget,
    NewTrail,
    Page,
    Pricer,
    Project,
    StoreOutcome,
    TrailFilter,
    apply_update,
    parse_trail,
    parse_update,
    rules,
)
from llmtrail.store.cursor import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from llmtrail.budgets import BudgetStatus
    from llmtrail.ledger.entries import Checkpoint, LedgerEntry
    from llmtrail.ledger.seal import SealReport
    from llmtrail.ledger.signing import Signer
from llmtrail.store.state import LocalState, SharedState

TrailInput = AuditTrail | Mapping[str, Any]
DEFAULT_KEY_FILE = "llmtrail-signing-key.pem"
Clock = Callable[[], datetime]
MAX_PAGE = 1_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store(abc.ABC):
    """An audit-trail store. Obtain one with ``llmtrail.open_store(url)``."""

    #: ``memory``, ``sqlite``, ``postgresql`` or ``dual``
    backend: str = ""
    #: where the data lives, with any password removed
    database: str = ""
    #: whether ``store`` needs a project id (database backends do)
    requires_project: bool = True

    def __init__(
        self,
        *,
        pricer: Pricer | None = None,
        clock: Clock = utcnow,
        retention_days: int = 7,
        min_retention_days: int = 0,
        access_log_days: int = 400,
    ) -> None:
        self.pricer = pricer
        self.clock = clock
        self.retention_days = retention_days
        #: the retention floor (AUDIT_TRAIL_MIN_RETENTION_DAYS): no cleanup or retention below
        self.min_retention_days = min_retention_days
        #: how long access-log entries are kept (AUDIT_TRAIL_ACCESS_LOG_DAYS)
        self.access_log_days = access_log_days
        self._state: SharedState = LocalState()
        #: where the checkpoint signing key comes from (``open_store`` sets it from settings)
        self.signer_source: Callable[[], Signer] | None = None
        self._signer: Signer | None = None

    @property
    def state(self) -> SharedState:
        """Facts every process on this store's database shares (the retention scheduler's
        claimed ticks and last run), and this process's cleanup stop signal."""
        return self._state

    # -- trails -------------------------------------------------------------------------------

    def store(
        self, trail: TrailInput, project_id: str | None = None, *, create_project: bool = True
    ) -> AuditTrail:
        """Insert a trail; an identical retry is a no-op, different content raises ConflictError.

        An unknown project is created (named after its id) unless ``create_project`` is
        False, which raises ``NotFoundError`` instead.
        """
        return self.store_outcome(trail, project_id, create_project=create_project).trail

    def store_outcome(
        self, trail: TrailInput, project_id: str | None = None, *, create_project: bool = True
    ) -> StoreOutcome:
        """Like ``store``, and also tells whether the trail was new (``created``)."""
        return self._insert(self.prepare(trail, project_id, create_project=create_project))

    def store_many(
        self,
        trails: Iterable[TrailInput],
        project_id: str | None = None,
        *,
        trusted: bool = False,
        create_project: bool = True,
    ) -> list[StoreOutcome | AuditTrailError]:
        """Store several trails; per item, the outcome or the error (the others still land).

        ``trusted`` keeps server-set fields (id, createdAt, updatedAt, costSource,
        priceVersion) as given: for copy and import between stores, never for caller input.
        ``create_project`` as for ``store``.
        """
        prepared: list[NewTrail | AuditTrailError] = []
        for t in trails:
            try:
                prepared.append(
                    self.prepare(t, project_id, trusted=trusted, create_project=create_project)
                )
            except ValidationError as e:
                prepared.append(e)
        valid = [p for p in prepared if isinstance(p, NewTrail)]
        results = iter(self._insert_many(valid) if valid else [])
        return [p if isinstance(p, AuditTrailError) else next(results) for p in prepared]

    def create_placeholder(
        self,
        message_id: str,
        model: str,
        context_layers: int = 0,
        project_id: str | None = None,
        *,
        create_project: bool = True,
        **extra: Any,
    ) -> AuditTrail:
        """The seed's placeholder: status ``pending``, zero tokens and cost, completed later."""
        data = {
            "messageId": message_id,
            "model": model,
            "contextLayers": context_layers,
            "status": "pending",
            **extra,
        }
        return self.store(data, project_id, create_project=create_project)

    def prepare(
        self,
        trail: TrailInput,
        project_id: str | None = None,
        *,
        trusted: bool = False,
        create_project: bool = True,
    ) -> NewTrail:
        """Validate a trail for this store without writing it."""
        new = parse_trail(
            trail, project_id, now=self.clock(), pricer=self.pricer, trusted=trusted, stamp=True
        )
        if self.requires_project and new.trail.project_id is None:
            raise ValidationError("is required by the database backends", field="projectId")
        if not create_project:
            new = dataclasses.replace(new, create_project=False)
        return new

    def get(self, message_id: str) -> AuditTrail | None:
        """The trail with this message id, or None."""
        if not rules.could_be_message_id(message_id):
            return None  # no trail can have it (and a database would refuse e.g. a NUL)
        return self._get(message_id)

    def update(self, message_id: str, **fields: Any) -> AuditTrail:
        """Partially update a trail (reasoning, tokens, cost, status, metadata)."""
        upd = parse_update(fields)
        if not rules.could_be_message_id(message_id):
            raise NotFoundError(f"no audit trail with messageId {message_id!r}")
        return self._update(
            message_id,
            lambda old: apply_update(old, upd, now=self.clock(), pricer=self.pricer),
            project_id=None,
        )

    def update_in_project(
        self, project_id: str, message_id: str, fields: Mapping[str, Any]
    ) -> AuditTrail:
        """``update`` restricted to one project (a trail of another project is not found)."""
        upd = parse_update(fields)
        if not rules.could_be_message_id(message_id):
            raise NotFoundError(f"no audit trail with messageId {message_id!r}")
        return self._update(
            message_id,
            lambda old: apply_update(old, upd, now=self.clock(), pricer=self.pricer),
            project_id=project_id,
        )

    def cleanup(self, days_old: float | None = None, *, dry_run: bool = False) -> int:
        """Delete trails older than ``days_old`` (default: the retention), honouring each
        project's ``retention_days``; returns how many were deleted. A trail exactly at the
        cutoff is kept. With ``dry_run``, count them and delete nothing."""
        days = self.retention_days if days_old is None else days_old
        if (
            isinstance(days, bool)
            or not isinstance(days, int | float)
            or not 0 <= days <= rules.MAX_RETENTION_DAYS  # also rejects NaN
        ):
            raise ValidationError("must be a number of days between 0 and 36500", field="days")
        errs = rules.Errors()
        self._at_least_floor(errs, "days", days)
        if errs:
            raise ValidationError(errs.items)
        if dry_run:
            return self._count_expired(self.clock(), days)
        return self._cleanup(self.clock(), days)

    def redact_content(self, *, dry_run: bool = False) -> int:
        """Clear ``reasoning`` and ``metadata`` of the trails past their project's
        ``content_retention_days`` (``content_redacted_at`` set; tokens, cost and analytics
        unchanged), except under legal hold; how many. Cleanup runs it before deleting."""
        return self._redact(self.clock(), dry_run)

    def _redact(self, now: datetime, dry_run: bool) -> int:
        return 0  # a backend without content retention

    def list_trails(
        self, filter: TrailFilter, *, limit: int = 100, cursor: str | None = None
    ) -> Page:
        """One page of a project's trails, newest first, with the cursor of the next page."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"must be between 1 and {MAX_PAGE}", field="limit")
        check_filter(filter)
        return self._list(filter, limit, cursor)

    def iter_trails(self, filter: TrailFilter, *, batch: int = 500) -> Iterator[AuditTrail]:
        """Every trail matching ``filter``, newest first, fetched page by page."""
        cursor: str | None = None
        while True:
            page = self.list_trails(filter, limit=batch, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- the access log (SPEC §10) --------------------------------------------------------------

    def record_reads(self, entries: Sequence[AccessEntry]) -> None:
        """Append reads of trails to the access log (the server batches them)."""
        if entries:
            self._record_reads(list(entries))

    def access_log(
        self,
        project_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        key_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AccessPage:
        """The reads of ``project_id``'s trails, newest first, ``[since, until)``, of one key
        if given; a page of at most ``limit`` and the cursor of the next one."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"must be between 1 and {MAX_PAGE}", field="limit")
        position = decode_cursor(cursor) if cursor else None
        if position is not None and not position[1].isdigit():
            raise ValidationError("is not a cursor of this listing", field="cursor")
        after = None if position is None else (position[0], int(position[1]))
        items = self._access_log(AccessQuery(project_id, since, until, key_id, limit + 1, after))
        more = len(items) > limit
        items = items[:limit]
        last = items[-1] if items else None
        nxt = encode_cursor(last.at, str(last.id)) if more and last is not None else None
        return AccessPage(items, nxt)

    def purge_access_log(self, days: float) -> int:
        """Delete access-log entries older than ``days`` (AUDIT_TRAIL_ACCESS_LOG_DAYS)."""
        return self._purge_access_log(self.clock() - timedelta(days=days))

    def _record_reads(self, entries: list[AccessEntry]) -> None:
        raise AuditTrailError(f"the {self.backend} backend keeps no access log")

    def _access_log(self, q: AccessQuery) -> list[AccessEntry]:
        return []

    def _purge_access_log(self, cutoff: datetime) -> int:
        return 0

    # -- projects and keys ---------------------------------------------------------------------

    def create_project(
        self,
        id: str,
        name: str | None = None,
        retention_days: int | None = None,
        *,
        content_retention_days: int | None = None,
        legal_hold: bool = False,
        budget: Budget | Mapping[str, Any] | None = None,
    ) -> Project:
        """Create a project; ConflictError if the id exists. ``retention_days`` overrides the
        global retention (never below ``min_retention_days``); ``content_retention_days``
        clears reasoning and metadata sooner; ``legal_hold`` stops every cleanup of it;
        ``budget`` (``{"amount": "50.00", "period": "month"}``) is its spending limit."""
        errs = rules.Errors()
        pid = rules.project_id(errs, "id", id)
        clean_name = rules.text(errs, "name", name if name is not None else id, max_len=200)
        policy = self._policy(
            errs,
            {
                "retentionDays": retention_days,
                "contentRetentionDays": content_retention_days,
                "legalHold": legal_hold,
                "budget": budget,
            },
        )
        if errs:
            raise ValidationError(errs.items)
        assert pid is not None and clean_name is not None
        return self._create_project(Project(pid, clean_name, created_at=self.clock(), **policy))

    def update_project(self, id: str, **fields: Any) -> Project:
        """Change a project's ``name``, ``retentionDays``, ``contentRetentionDays``,
        ``legalHold`` or ``budget`` (camelCase or snake_case names; None clears a retention or
        the budget);
        NotFoundError if it does not exist."""
        names = {
            "name": "name",
            "retentionDays": "retentionDays",
            "retention_days": "retentionDays",
            "contentRetentionDays": "contentRetentionDays",
            "content_retention_days": "contentRetentionDays",
            "legalHold": "legalHold",
            "legal_hold": "legalHold",
            "budget": "budget",
        }
        errs = rules.Errors()
        given = rules.mapping_keys(errs, "", fields, names)
        changes: dict[str, Any] = {}
        if "name" in given:
            changes["name"] = rules.text(errs, "name", given["name"], max_len=200)
        changes.update(self._policy(errs, {k: v for k, v in given.items() if k != "name"}))
        if errs:
            raise ValidationError(errs.items)
        project = self.require_project(id)
        updated = dataclasses.replace(project, **changes)
        if updated != project:
            self._set_project(updated)
        return updated

    def _policy(self, errs: rules.Errors, given: Mapping[str, Any]) -> dict[str, Any]:
        """The validated retention policy fields among ``given`` (camelCase keys)."""
        out: dict[str, Any] = {}
        for field, attr in (
            ("retentionDays", "retention_days"),
            ("contentRetentionDays", "content_retention_days"),
        ):
            if field not in given:
                continue
            value = given[field]
            if value is not None:
                value = rules.integer(errs, field, value, lo=0, hi=rules.MAX_RETENTION_DAYS)
                if field == "retentionDays" and value is not None:
                    value = self._at_least_floor(errs, field, value)
            out[attr] = value
        if "legalHold" in given:
            hold = given["legalHold"]
            if not isinstance(hold, bool):
                errs.add("legalHold", "must be true or false")
            out["legal_hold"] = hold
        if "budget" in given:
            value = given["budget"]
            if isinstance(value, Budget):  # from the library: as validated as a mapping
                value = {"amount": value.amount, "period": value.period}
            out["budget"] = rules.budget(errs, "budget", value)
        return out

    def _at_least_floor(self, errs: rules.Errors, field: str, days: float) -> float:
        if days < self.min_retention_days:
            errs.add(
                field,
                f"must be at least AUDIT_TRAIL_MIN_RETENTION_DAYS ({self.min_retention_days})",
            )
        return days

    def get_project(self, id: str) -> Project | None:
        return self._get_project(id) if isinstance(id, str) else None

    def require_project(self, id: str) -> Project:
        project = self.get_project(id)
        if project is None:
            raise NotFoundError(f"no project {id!r}")
        return project

    def delete_project(self, id: str) -> None:
        """Delete a project with its trails, keys and aggregates; NotFoundError if missing."""
        if not self._delete_project(id):
            raise NotFoundError(f"no project {id!r}")

    # -- replication: copy, import and dual mode put one store's records into another ---------

    def insert_prepared(self, items: list[NewTrail]) -> list[StoreOutcome | AuditTrailError]:
        """Insert trails already validated (``prepare`` or ``parse_trail``) exactly as given,
        ids and timestamps included; per item the outcome or the error."""
        return self._insert_many(items)

    def rewrite(self, message_id: str, change: Callable[[AuditTrail], AuditTrail]) -> AuditTrail:
        """Replace a stored trail by ``change(stored)``, atomically (rollups follow);
        NotFoundError if it is missing."""
        return self._update(message_id, change, None)

    def put_project(self, project: Project) -> bool:
        """Create ``project`` or correct the stored one (name, retention, createdAt) to equal
        it; whether anything changed."""
        existing = self.get_project(project.id)
        if existing is None:
            try:
                self._create_project(project)
                return True
            except ConflictError:  # created in between
                existing = self.get_project(project.id)
                if existing is None:
                    raise
        if existing == project:
            return False
        self._set_project(project)
        return True

    def _set_project(self, project: Project) -> None:
        raise AuditTrailError(f"the {self.backend} backend cannot correct projects")

    def key_records(self) -> list[tuple[ApiKey, str]]:
        """Every API key with its secret's hash (never the secret), oldest first."""
        raise AuditTrailError(f"the {self.backend} backend cannot list key records")

    def put_key(self, record: ApiKey, digest: str) -> bool:
        """Create or update an API key from its record and hash, so the same secret works on
        both stores; whether anything changed."""
        raise AuditTrailError(f"the {self.backend} backend cannot write key records")

    def fold_usage(self) -> int:
        """Fold pending usage increments into the analytics aggregates now; how many were
        folded. Backends fold on their own (PostgreSQL in a background thread and on every
        cleanup); this is for a cron or a test that wants it done at once. Analytics is exact
        either way."""
        return 0

    def count_trails(self, project_id: str | None = None) -> int:
        """How many trails the store holds (of one project)."""
        ids = [project_id] if project_id is not None else [p.id for p in self.list_projects()]
        return sum(1 for pid in ids for _ in self.iter_trails(TrailFilter(pid)))

    # -- tamper evidence (SPEC §9) ---------------------------------------------------------------

    #: whether this backend keeps a ledger of its writes (the database backends do)
    keeps_ledger: bool = False

    @property
    def signer(self) -> Signer:
        """The key that signs checkpoints: ``signer_source()``, else the default key file."""
        if self._signer is None:
            from llmtrail.ledger.signing import load_signer

            source = self.signer_source
            self._signer = (
                source() if source is not None else load_signer(None, Path(DEFAULT_KEY_FILE))
            )
        return self._signer

    @signer.setter
    def signer(self, signer: Signer) -> None:
        self._signer = signer

    def seal(self, signer: Signer | None = None, *, batch: int = 50_000) -> SealReport:
        """Fold the ledger entries written since the last seal into each project's hash
        chain and store a signed checkpoint per project that has new ones. Entries of
        transactions still running wait for the next seal; another sealer running at the same
        moment makes this one return at once. Writes never wait for it."""
        from llmtrail.ledger.seal import SealReport, make_checkpoints

        report = SealReport()
        if not self.keeps_ledger:
            return report
        key = signer or self.signer
        while True:
            now = self.clock()
            n, made, more = self._seal_step(
                functools.partial(make_checkpoints, signer=key, now=now), batch, now
            )
            report.entries += n
            report.checkpoints += made
            if not more:
                return report

    def ledger_entries(self, project_id: str | None = None) -> Iterator[LedgerEntry]:
        """Every ledger entry (of one project), in chain order."""
        return iter(())

    def checkpoints(
        self, project_id: str | None = None, *, with_entries: bool = False
    ) -> list[Checkpoint]:
        """Every checkpoint (of one project), by project and seq; ``with_entries`` also
        loads the entry locators ``verify-chain`` names tampered entries with."""
        return []

    def latest_checkpoint(self, project_id: str) -> Checkpoint | None:
        """The newest checkpoint of a project, or None before its first seal."""
        return None

    def ledger_snapshot(self) -> AbstractContextManager[LedgerView]:
        """The ledger, checkpoints and trails as of one instant (``llmtrail verify-chain``
        and signed exports read them there, so concurrent writes cannot look like tampering)."""
        raise AuditTrailError(
            f"the {self.backend} backend keeps no ledger: tamper evidence needs SQLite or "
            "PostgreSQL"
        )

    def _seal_step(
        self, make: Callable[..., list[Checkpoint]], limit: int, now: datetime
    ) -> tuple[int, list[Checkpoint], bool]:
        return 0, [], False

    # -- analytics (SPEC §4) ------------------------------------------------------------------

    def analytics(
        self,
        project_id: str,
        *,
        days: int = 30,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        tz: str = "UTC",
        group_by: str | None = None,
    ) -> Analytics:
        """Cost and usage of a project over a window, every trail counted, summed exactly.

        The window is the last ``days`` calendar days in ``tz`` (today included), or
        ``[since, until)``. ``costByDay`` has one entry per day of the window, zero-filled.
        ``group_by`` (``model``, ``provider``, ``metadata.<key>``) adds ``costByGroup``.
        """
        errs = rules.Errors()
        rules.project_id(errs, "projectId", project_id)
        group = parse_group_by(errs, group_by)
        if errs:
            raise ValidationError(errs.items)
        window = make_window(self.clock(), days=days, since=since, until=until, tz=tz)
        project = self.require_project(project_id)
        usage = self._usage(project_id, window)
        recent = self.list_trails(
            TrailFilter(project_id, since=window.start, until=window.end), limit=10
        ).items
        result = build(window, usage, recent)
        if project.budget is not None:
            result = dataclasses.replace(result, budget=self._budget_status(project))
        if group is None:
            return result
        if group == "model":  # from the aggregates, which outlive raw-trail retention
            groups = groups_of_models(result.cost_by_model)
        else:
            trails = self.iter_trails(TrailFilter(project_id, since=window.start, until=window.end))
            groups = groups_of_trails(trails, window, group)
        return dataclasses.replace(result, cost_by_group=groups)

    def budget_status(self, project_id: str) -> BudgetStatus | None:
        """Where the project's spend stands in its budget's current period (None: no budget);
        NotFoundError if the project does not exist."""
        project = self.require_project(project_id)
        return None if project.budget is None else self._budget_status(project)

    def _budget_status(self, project: Project) -> BudgetStatus:
        from llmtrail.budgets import BudgetStatus, period_of

        assert project.budget is not None
        start, end = period_of(project.budget.period, self.clock())
        window = make_window(self.clock(), since=start, until=end)
        spent = sum((u.cost for u in self._usage(project.id, window)), Decimal(0))
        return BudgetStatus(project.id, project.budget, start, end, spent)

    def _usage(self, project_id: str, window: Window) -> list[Usage]:
        """Usage per (local day, model) in the window; brute force over the raw trails here,
        backends with aggregates override it."""
        return usage_of_trails(
            self.iter_trails(TrailFilter(project_id, since=window.start, until=window.end)),
            window,
        )

    # -- abstract primitives ---------------------------------------------------------------------

    @abc.abstractmethod
    def _insert(self, new: NewTrail) -> StoreOutcome: ...

    def _insert_many(self, items: list[NewTrail]) -> list[StoreOutcome | AuditTrailError]:
        out: list[StoreOutcome | AuditTrailError] = []
        for item in items:
            try:
                out.append(self._insert(item))
            except (ValidationError, AuditTrailError) as e:
                out.append(e)
        return out

    @abc.abstractmethod
    def _get(self, message_id: str) -> AuditTrail | None: ...

    @abc.abstractmethod
    def _update(
        self,
        message_id: str,
        change: Callable[[AuditTrail], AuditTrail],
        project_id: str | None,
    ) -> AuditTrail: ...

    @abc.abstractmethod
    def _cleanup(self, now: datetime, days: float) -> int:
        """Delete trails older than ``days`` before ``now`` (or their project's override)."""

    def _count_expired(self, now: datetime, days: float) -> int:
        """How many trails ``_cleanup(now, days)`` would delete (for dry runs)."""
        raise NotImplementedError(f"{type(self).__name__} cannot count expired trails")

    @abc.abstractmethod
    def _list(self, filter: TrailFilter, limit: int, cursor: str | None) -> Page: ...

    @abc.abstractmethod
    def _create_project(self, project: Project) -> Project: ...

    @abc.abstractmethod
    def _get_project(self, id: str) -> Project | None: ...

    @abc.abstractmethod
    def list_projects(self) -> list[Project]:
        """Every project, by id."""

    @abc.abstractmethod
    def _delete_project(self, id: str) -> bool: ...

    @abc.abstractmethod
    def create_api_key(self, project_id: str) -> tuple[ApiKey, str]:
        """A new key for a project: its record and the secret, which is never stored."""

    @abc.abstractmethod
    def list_api_keys(self, project_id: str) -> list[ApiKey]:
        """A project's keys (without secrets), revoked ones included."""

    @abc.abstractmethod
    def revoke_api_key(self, project_id: str, key_id: str) -> None:
        """Revoke a key at once; NotFoundError if the project has no such key."""

    @abc.abstractmethod
    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise UnavailableError when the database cannot be reached."""

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend} database={self.database}>"


class LedgerView(Protocol):
    """What ``Store.ledger_snapshot`` yields: one consistent view of the ledger and trails."""

    def projects(self) -> list[str]:
        """Every project id, of live projects and of the ledger (deleted projects too)."""

    def entries(self, project_id: str | None = None) -> Iterator[LedgerEntry]:
        """The entries (of one project) in chain order."""

    def checkpoints(
        self, project_id: str | None = None, *, with_entries: bool = False
    ) -> list[Checkpoint]:
        """The checkpoints (of one project), by project and seq."""

    def trails(self, project_id: str | None = None) -> Iterator[AuditTrail]:
        """The stored trails (of one project), in no particular order."""


@dataclass(frozen=True, slots=True)
class AccessQuery:
    """What a backend's ``_access_log`` returns: ``project_id``'s entries in ``[since,
    until)``, of ``key_id`` if given, newest first, after the ``(at, id)`` position, at most
    ``limit``."""

    project_id: str
    since: datetime | None
    until: datetime | None
    key_id: str | None
    limit: int
    after: tuple[datetime, int] | None


def redacted(trail: AuditTrail, now: datetime) -> AuditTrail:
    """``trail`` with its content cleared by the content retention (the record stays)."""
    return dataclasses.replace(
        trail, reasoning=None, metadata=None, content_redacted_at=now, updated_at=now
    )


def check_filter(f: TrailFilter) -> None:
    errs = rules.Errors()
    rules.project_id(errs, "projectId", f.project_id)
    if f.model is not None:
        rules.text(errs, "model", f.model, max_len=rules.MAX_MODEL)
    if f.status is not None:
        rules.choice(errs, "status", f.status, ("pending", "completed", "failed"))
    if f.provider is not None:
        rules.provider(errs, "provider", f.provider)
    if f.message_id_prefix is not None:
        rules.text(errs, "messageIdPrefix", f.message_id_prefix, max_len=rules.MAX_MESSAGE_ID)
    for key, value in f.metadata:
        rules.text(errs, "metadata", key, max_len=rules.MAX_METADATA_KEY)
        rules.text(errs, "metadata", value, max_len=rules.MAX_METADATA_STRING, min_len=0)
    for name in ("since", "until"):
        value = getattr(f, name)
        if value is not None:
            rules.timestamp(errs, name, value)
    if errs:
        raise ValidationError(errs.items)
