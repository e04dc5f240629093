"""The `photoledger` command line: one click group, one module per command.

Invariant: this module is the only place that turns errors into output and exit codes. A
PhotoledgerError becomes one line on stderr and its documented ExitCode (README, "Exit codes");
a usage error (unknown option, missing argument, bad choice) is the same one line and exit 2,
naming the command's --help; anything else is a bug: one line plus exit 1, with the traceback
only under --debug. `--log-level`/`--log-format` apply to every stderr line (commands.output).
`--account NAME` (or its twin PHOTOLEDGER_ACCOUNT) is kept in Settings, whose load_config
gives every command the same account's config; nothing here writes the environment.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

import click

from commands.context import Settings
from commands.output import (
    LOG,
    LOG_FORMATS,
    LOG_LEVELS,
    configure_logging,
    err_console,
    error_line,
    warn_line,
)
from engine.accounts import ACCOUNT_ENV
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode, PhotoledgerError
from engine.services import VERSION, utc_now

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Command name -> its module under commands/. Modules are imported only when their command is
# run (or listed by --help): a stage's start-up pays for its own imports, not for all of them.
COMMAND_MODULES: dict[str, str] = {
    "init": "init", "login": "login", "discover": "discover", "download": "download",
    "backup-nas": "backup_nas", "backup-google": "backup_google", "verify": "verify",
    "doctor": "doctor", "compress": "compress", "album-move": "album_move", "delete": "delete",
    "recover": "recover", "import-existing": "import_existing",
    "run": "run", "watch": "watch", "audit": "audit", "status": "status", "report": "report",
    "history": "history", "albums": "albums", "list": "list", "rebuild": "rebuild",
    "check": "check",
    "simulator": "simulator", "serve": "serve",
    "demo": "demo",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module the first time the command is needed."""

    def list_commands(self, _ctx: click.Context) -> list[str]:
        """In the pipeline's order, then the tools (as COMMAND_MODULES lists them)."""
        return [*COMMAND_MODULES, *(name for name in self.commands if name not in COMMAND_MODULES)]

    def get_command(self, _ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            module = importlib.import_module(f"commands.{COMMAND_MODULES[cmd_name]}")
            self.add_command(module.command, cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="photoledger.yaml",
    show_default=True,
    envvar="PHOTOLEDGER_CONFIG",
    help="The YAML config file (env PHOTOLEDGER_CONFIG).",
)
@click.option("--account", "account", metavar="NAME", envvar=ACCOUNT_ENV, default=None,
              help="With an `accounts:` list in the config: act on this account only (env "
              "PHOTOLEDGER_ACCOUNT). Needed by every command but run, watch and init, which go "
              "through all accounts without it.")
@click.option("--no-progress", is_flag=True, help="Never draw progress bars.")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True,
              envvar="PHOTOLEDGER_LOG_LEVEL",
              help="The least important stderr lines shown; debug adds a line for every asset "
              "done (env PHOTOLEDGER_LOG_LEVEL).")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              envvar="PHOTOLEDGER_LOG_FORMAT",
              help="stderr as text lines (UTC times when not on a terminal) or one JSON object "
              "a line, without bars (env PHOTOLEDGER_LOG_FORMAT).")
@click.version_option(VERSION, prog_name="photoledger")
@click.pass_context
def cli(
    ctx: click.Context, config_path: Path, account: str | None, no_progress: bool, debug: bool,
    log_level: str, log_format: str,
) -> None:
    """photoledger: get a photo library out of iCloud without ever losing a photo.

    Every action is an event in an append-only ledger; the media table and every stage's
    work list are rebuilt from it. Start with `photoledger init`, then `photoledger status`.
    """
    configure_logging(log_level, log_format)
    ctx.obj = Settings(
        config_path=config_path,
        crash=CrashPoints.from_env(os.environ),
        clock=utc_now,
        show_progress=not no_progress and err_console.is_terminal and LOG.format == "text",
        warn=warn_line,
        account=account or None,
    )
    ctx.meta["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map errors to exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="photoledger", standalone_mode=False)
    except PhotoledgerError as exc:
        _fail(str(exc), exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # `photoledger` alone: the help
        exc.show()
        sys.exit(ExitCode.USAGE)
    except click.UsageError as exc:
        _fail(usage_message(exc), ExitCode.USAGE)
    except click.ClickException as exc:  # click's own file errors: a bad command line too
        _fail(" ".join(exc.format_message().split()), ExitCode.USAGE)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _fail("interrupted; everything recorded so far is kept", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(ExitCode.OK)
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if debug:
            traceback.print_exc()
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)", ExitCode.INTERNAL
        )
    sys.exit(ExitCode.OK)


def usage_message(exc: click.UsageError) -> str:
    """click's message on one line, with where to read the command's options."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    command = exc.ctx.command_path if exc.ctx is not None else "photoledger"
    return f"{message} (see `{command} --help`)"


def _fail(message: str, code: ExitCode) -> None:
    error_line(message, exit_code=int(code))
    sys.exit(int(code))
