"""`run` over several accounts: each account's own pass, one after the other, one exit code.

Invariants:
- Each account runs through the same single-account entry (`run_once`) with its own Config:
  its own lock, ledger, library, NAS folder and outbox; nothing is shared between accounts.
- One account's failure never stops the others: a stage failure is in its summary, and an
  error before its stages (its lock held, its ledger unreadable) is kept as its outcome.
  Ctrl-C (KeyboardInterrupt) is not a failure: it stops the whole run.
- Each account's notifications go out after its pass, named by the account (summary prefix
  and the `account` detail, PHOTOLEDGER_DETAIL_ACCOUNT for a script).
- The exit code is the worst account's: the alarm (LAST_COPY_DAMAGED) first, then a failure
  (any code but OK and NEEDS_ATTENTION), then NEEDS_ATTENTION, then OK; between equals, the
  first account in the config's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.config import Config
from engine.errors import ExitCode, PhotoledgerError
from engine.pipeline.run import run_once, send_notifications
from engine.pipeline.summary import PipelineOptions, RunSummary, summary_json
from engine.services import Runtime


@dataclass(frozen=True)
class AccountOutcome:
    """One account's pass: its summary, or the error that stopped it before its stages."""

    account: str
    summary: RunSummary | None = None
    error: PhotoledgerError | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return self.error.exit_code
        return self.summary.exit_code if self.summary is not None else ExitCode.OK

    @property
    def headline(self) -> str:
        """Why this account's pass did not end with 0 ("" when it did)."""
        if self.error is not None:
            return str(self.error)
        return self.summary.headline if self.summary is not None else ""

    def line(self) -> str:
        """`account bob: exit 10, discover failed: ...` (the summary's per-account line)."""
        code = self.exit_code
        why = self.headline if code != ExitCode.OK else "done"
        return f"account {self.account}: exit {int(code)} ({code.name}), {why}"


def run_accounts(
    configs: Sequence[Config], runtime: Runtime, options: PipelineOptions,
    command: str = "run", on_account: Callable[[AccountOutcome], None] | None = None,
) -> list[AccountOutcome]:
    """Each account's pass in turn (notifications sent after each); their outcomes."""
    outcomes: list[AccountOutcome] = []
    for config in configs:
        name = config.account or ""
        try:
            summary = run_once(config, runtime, options, command=command)
        except PhotoledgerError as exc:
            outcome = AccountOutcome(name, error=exc)
        else:
            name_notifications(summary, name)
            send_notifications(config, summary, runtime.warn)
            outcome = AccountOutcome(name, summary=summary)
        outcomes.append(outcome)
        if on_account is not None:
            on_account(outcome)
    return outcomes


def name_notifications(summary: RunSummary, account: str) -> None:
    """Prefix each notification's summary with the account and add it to the details."""
    summary.notifications = [
        dataclasses.replace(n, summary=f"{account}: {n.summary}",
                            details={**n.details, "account": account})
        for n in summary.notifications
    ]


def _rank(code: ExitCode) -> int:
    if code == ExitCode.LAST_COPY_DAMAGED:
        return 3
    if code not in (ExitCode.OK, ExitCode.NEEDS_ATTENTION):
        return 2
    return 1 if code == ExitCode.NEEDS_ATTENTION else 0


def worst(outcomes: Sequence[AccountOutcome]) -> AccountOutcome | None:
    """The outcome that decides the exit code (None: no account, or every one ended 0)."""
    found: AccountOutcome | None = None
    for outcome in outcomes:
        if found is None or _rank(outcome.exit_code) > _rank(found.exit_code):
            found = outcome
    return found if found is not None and found.exit_code != ExitCode.OK else None


def accounts_json(outcomes: Sequence[AccountOutcome]) -> dict[str, Any]:
    """`run --json` over several accounts: the worst code and each account's summary."""
    decisive = worst(outcomes)
    return {
        "exit_code": int(decisive.exit_code) if decisive else 0,
        "accounts": [_outcome_json(o) for o in outcomes],
    }


def _outcome_json(outcome: AccountOutcome) -> dict[str, Any]:
    if outcome.summary is not None:
        return {"account": outcome.account, **summary_json(outcome.summary)}
    return {"account": outcome.account, "exit_code": int(outcome.exit_code),
            "error": outcome.headline, "stages": [], "notifications": [], "plan_id": None,
            "nas_damage": []}
