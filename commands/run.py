"""`photoledger run`: every stage in order, one summary, one exit code, notifications.

Invariants:
- The stages are commands.pipeline's; this module holds the lock, prints and notifies.
- Notifications are sent after the run is recorded and the lock released; a failing
  notification is a warning, never a different exit code. The one exception is
  `backup-damaged`, sent inside the run (commands.output): its delivery is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings, open_icloud, open_writer
from commands.output import console, print_json
from commands.pipeline import (
    PipelineOptions,
    RunSummary,
    check_damage,
    run_pipeline,
    summary_json,
)
from engine.config import Config, load_config
from engine.errors import ExitCode, PhotoledgerError
from engine.notify import Notifier


class RunAttentionError(PhotoledgerError):
    """The run ended with something for the user to act on (the code says what)."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_once(config: Config, settings: Settings, options: PipelineOptions,
             command: str = "run") -> RunSummary:
    """Lock, run every stage, record the run with the summary's exit code; never raises it."""
    summary = RunSummary()
    try:
        writer = open_writer(config, settings, command, verify_ledger=True)
        with open_icloud(config) as port, writer as deps:
            summary = run_pipeline(deps, port, options)
            check_damage(deps, summary, settings.warn)
            if summary.exit_code != ExitCode.OK:
                raise RunAttentionError("needs attention", summary.exit_code)
    except RunAttentionError:
        pass  # recorded as the run's exit code by open_writer
    return summary


def notify(config: Config, summary: RunSummary, warn: Callable[[str], None]) -> None:
    """Send the summary's notifications; problems become warnings."""
    notifier = Notifier(config.settings.notify, dict(os.environ))
    for notification in summary.notifications:
        for problem in notifier.send(notification):
            warn(problem)


@click.command("run")
@click.option("--execute-deletes", is_flag=True,
              help="Also execute a deletion plan that passes every guard without --force.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def command(settings: Settings, execute_deletes: bool, as_json: bool) -> None:
    """Run every stage in order: discover, download, backup-nas, backup-google, compress,
    album-move, then a deletion plan.

    A stage that fails stops cleanly and the stages depending on it are skipped; the others
    still run. The exit code is 0 when nothing needs you, the failed stage's code, or 15 when
    assets were quarantined or a deletion plan waits. Notifications go out as configured.
    """
    config = load_config(settings.config_path)
    summary = run_once(config, settings, PipelineOptions(execute_deletes=execute_deletes))
    notify(config, summary, settings.warn)
    if as_json:
        print_json(summary_json(summary))
    else:
        print_summary(summary)
    if summary.exit_code != ExitCode.OK:
        raise RunAttentionError(_headline(summary), summary.exit_code)


def _headline(summary: RunSummary) -> str:
    if summary.damage_code == ExitCode.LAST_COPY_DAMAGED:
        return summary.damage[0]
    failed = [s for s in summary.stages if s.status == "failed"]
    if failed:
        return f"{failed[0].stage} failed: {failed[0].detail}"
    if summary.damage:
        return summary.damage[0]
    return "; ".join(n.summary for n in summary.notifications if n.event != "run-completed")


def print_summary(summary: RunSummary) -> None:
    """The alarm first, then one table: each stage with its outcome."""
    for line in summary.damage[:20]:
        console.print(Text(line))
    table = Table("stage", "outcome", "detail", title="run")
    for s in summary.stages:
        table.add_row(s.stage, s.status, Text(s.detail))
    console.print(table)
    for n in summary.notifications:
        if n.event != "run-completed":
            console.print(Text(f"needs you: {n.summary}"))
