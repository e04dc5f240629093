"""`photoledger run`: every stage in order, one summary, one exit code, notifications.

Invariant: the pass itself is engine.pipeline's (`run_once`, `send_notifications`; several
accounts: `run_accounts`); this module only reads the options, prints the summary (one table
per account, then one line per account) and turns its exit code into the process's.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.options import (
    library_option,
    naming_flags,
    naming_options,
    selection_flags,
    selection_options,
    with_library_flag,
)
from commands.output import console, print_json
from engine.config import Config
from engine.errors import ExitCode
from engine.naming_settings import with_naming_flags
from engine.pipeline.accounts_run import AccountOutcome, accounts_json, run_accounts, worst
from engine.pipeline.run import RunAttentionError, run_once, send_notifications
from engine.pipeline.summary import PipelineOptions, RunSummary, summary_json
from engine.selection_scope import with_selection_flags


@click.command("run")
@click.option("--execute-deletes", is_flag=True,
              help="Also execute a deletion plan that passes every guard without --force.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@selection_options
@naming_options
@library_option
@click.pass_obj
def command(
    settings: Settings, /, execute_deletes: bool, as_json: bool, libraries: tuple[str, ...],
    **selection: Any,
) -> None:
    """Run every stage in order: discover, download, backup-nas, backup-google, compress,
    album-move, then a deletion plan.

    A stage that fails stops cleanly and the stages depending on it are skipped; the others
    still run. The exit code is 0 when nothing needs you, the failed stage's code, or 15 when
    assets were quarantined or a deletion plan waits. Notifications go out as configured.

    With an `accounts:` list, every account in turn (or only --account NAME): one account's
    failure does not stop the others, one line per account at the end, and the exit code is
    the worst account's (the alarm, then a failure, then 15).
    """
    flags, naming = selection_flags(selection), naming_flags(selection)
    configs = tuple(with_naming_flags(with_library_flag(with_selection_flags(c, flags), libraries),
                                      naming)
                    for c in settings.load_accounts())
    options = PipelineOptions(execute_deletes=execute_deletes)
    if configs[0].account is not None:  # an `accounts:` list: the same shape with one or all
        _run_accounts(configs, settings, options, as_json)
        return
    config = configs[0]
    summary = run_once(config, settings, options)
    send_notifications(config, summary, settings.warn)
    if as_json:
        print_json(summary_json(summary))
    else:
        print_summary(summary)
    if summary.exit_code != ExitCode.OK:
        raise RunAttentionError(summary.headline, summary.exit_code)


def _run_accounts(configs: tuple[Config, ...], settings: Settings, options: PipelineOptions,
                  as_json: bool) -> None:
    """Every account in turn: a table each as it ends, then one line per account."""
    outcomes = run_accounts(configs, settings, options,
                            on_account=None if as_json else _print_account)
    if as_json:
        print_json(accounts_json(outcomes))
    else:
        for outcome in outcomes:
            console.print(Text(outcome.line()))
    decisive = worst(outcomes)
    if decisive is not None:
        raise RunAttentionError(f"account {decisive.account}: {decisive.headline}",
                                decisive.exit_code)


def _print_account(outcome: AccountOutcome) -> None:
    if outcome.summary is not None:
        print_summary(outcome.summary, title=f"run: account {outcome.account}")
    else:
        console.print(Text(f"run: account {outcome.account}: {outcome.headline}"))


def print_summary(summary: RunSummary, title: str = "run") -> None:
    """The alarm first, then one table: each stage with its outcome and its counts as text."""
    for line in summary.damage[:20]:
        console.print(Text(line))
    table = Table("stage", "outcome", "detail", title=title)
    for s in summary.stages:
        table.add_row(s.stage, s.status, Text(s.text))
    console.print(table)
    for n in summary.notifications:
        if n.event != "run-completed":
            console.print(Text(f"needs you: {n.summary}"))
