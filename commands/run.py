"""`photoledger run`: every stage in order, one summary, one exit code, notifications.

Invariant: the pass itself is engine.pipeline's (`run_once`, `send_notifications`); this module
only reads the options, prints the summary and turns its exit code into the process's.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.options import selection_flags, selection_options
from commands.output import console, print_json
from engine.config import load_config
from engine.errors import ExitCode
from engine.pipeline.run import RunAttentionError, run_once, send_notifications
from engine.pipeline.summary import PipelineOptions, RunSummary, summary_json
from engine.selection_scope import with_selection_flags


@click.command("run")
@click.option("--execute-deletes", is_flag=True,
              help="Also execute a deletion plan that passes every guard without --force.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@selection_options
@click.pass_obj
def command(
    settings: Settings, /, execute_deletes: bool, as_json: bool, **selection: Any
) -> None:
    """Run every stage in order: discover, download, backup-nas, backup-google, compress,
    album-move, then a deletion plan.

    A stage that fails stops cleanly and the stages depending on it are skipped; the others
    still run. The exit code is 0 when nothing needs you, the failed stage's code, or 15 when
    assets were quarantined or a deletion plan waits. Notifications go out as configured.
    """
    config = with_selection_flags(load_config(settings.config_path), selection_flags(selection))
    summary = run_once(config, settings, PipelineOptions(execute_deletes=execute_deletes))
    send_notifications(config, summary, settings.warn)
    if as_json:
        print_json(summary_json(summary))
    else:
        print_summary(summary)
    if summary.exit_code != ExitCode.OK:
        raise RunAttentionError(summary.headline, summary.exit_code)


def print_summary(summary: RunSummary) -> None:
    """The alarm first, then one table: each stage with its outcome and its counts as text."""
    for line in summary.damage[:20]:
        console.print(Text(line))
    table = Table("stage", "outcome", "detail", title="run")
    for s in summary.stages:
        table.add_row(s.stage, s.status, Text(s.text))
    console.print(table)
    for n in summary.notifications:
        if n.event != "run-completed":
            console.print(Text(f"needs you: {n.summary}"))
