"""Child processes get no secret: a notify script, a fake ffmpeg/ffprobe on PATH and a fake
exiftool print their whole environment, and no secret value (nor a secret's name) is in it,
whether the secret came from its variable, from a `_FILE`, or was copied under another name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.child_env import child_environment
from engine.compress.encoders import run_tool
from engine.compress.raw import raw_exif
from engine.notify import Notification, Notifier, NotifySettings
from engine.secrets import FILE_SUFFIX, SECRET_NAMES
from tests.commands.test_run import with_notify_script
from tests.factories import run_cli
from tests.scenarios.fault_world import open_world

DIRECT = {
    "PHOTOLEDGER_ICLOUD_PASSWORD": "icloud-pw-Zq81xx",
    "PHOTOLEDGER_SMTP_PASSWORD": "smtp-pw-Xk22xx",
    "PHOTOLEDGER_LEDGER_PASSWORD": "pg-pw-Lm33xx",
    "PGPASSWORD": "libpq-pw-Pp66xx",
}
IN_FILES = {
    "PHOTOLEDGER_SYNCTHING_API_KEY": "syncthing-key-Rt44xx",
    "PHOTOLEDGER_APPRISE_URLS": "json://alice:apprise-token-Vb55@127.0.0.1:9/",
}
VALUES = [*DIRECT.values(), *IN_FILES.values(), "apprise-token-Vb55"]
DUMP = "#!/bin/sh\nenv\n"


def secret_environ(tmp_path: Path) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "KEEP_ME": "plain value", **DIRECT}
    for name, value in IN_FILES.items():
        path = tmp_path / f"{name.lower()}.secret"
        path.write_text(value + "\n")
        env[name + FILE_SUFFIX] = str(path)
    env["MY_COPY_OF_THE_PASSWORD"] = DIRECT["PHOTOLEDGER_ICLOUD_PASSWORD"]
    env["MY_URL"] = f"https://x.lan/?key={IN_FILES['PHOTOLEDGER_SYNCTHING_API_KEY']}"
    return env


def assert_no_secret(text: str) -> None:
    assert "KEEP_ME=plain value" in text  # the child did print its environment
    for value in VALUES:
        assert value not in text
    for name in (*SECRET_NAMES, "PGPASSWORD", "MY_COPY_OF_THE_PASSWORD", "MY_URL"):
        assert f"{name}=" not in text
        assert f"{name}{FILE_SUFFIX}=" not in text


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_notify_script_environment_holds_no_secret(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    script = executable(tmp_path / "notify.sh", f"#!/bin/sh\nenv > {out}\n")
    notifier = Notifier(NotifySettings(script=str(script)), secret_environ(tmp_path))
    notifier.send(Notification("run-failed", "discover failed", {"stage": "discover"}))
    text = out.read_text()
    assert_no_secret(text)
    assert "PHOTOLEDGER_EVENT=run-failed" in text and "PHOTOLEDGER_DETAIL_STAGE=discover" in text


@pytest.mark.parametrize("tool", ["ffmpeg", "ffprobe"])
def test_ffmpeg_and_ffprobe_on_path_get_no_secret(
    tmp_path: Path, tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / tool, DUMP)
    for name, value in secret_environ(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert_no_secret(run_tool([tool, "-version"], 10))


def test_exiftool_gets_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = executable(tmp_path / "exiftool", "#!/bin/sh\ncat > /dev/null\nenv\n")
    for name, value in secret_environ(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert_no_secret(raw_exif(b"not a raw", str(fake), 10).decode())


def test_a_short_secret_only_strips_an_equal_value() -> None:
    env = child_environment(environ={
        "PHOTOLEDGER_SMTP_PASSWORD": "usr", "HOME": "/usr/home", "SAME": "usr",
    })
    assert env == {"HOME": "/usr/home"}


def test_photoledger_run_hands_its_notify_script_no_secret(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    env = {k: v for k, v in secret_environ(secrets_dir).items() if k != "PATH"}
    env.pop("PHOTOLEDGER_APPRISE_URLS_FILE")  # tested above; here no delivery attempt
    with open_world(tmp_path) as world:
        log = with_notify_script(world.library, tmp_path)
        script = Path(str(log).removesuffix(".log"))
        script.write_text(f"#!/bin/sh\nenv >> {log}\n")
        env["PHOTOLEDGER_ICLOUD_ENDPOINT"] = world.server.base_url
        result = run_cli(["--no-progress", "run", "--json"], world.library.config_path,
                         env=env, timeout=300)
        assert result.returncode == 10, result.stderr  # the simulator refuses the password
        text = log.read_text()
        assert "PHOTOLEDGER_EVENT=run-failed" in text
        assert_no_secret(text)


_SPAWNERS = {("subprocess", name) for name in ("run", "Popen", "call", "check_call", "check_output")}
_SPAWNERS.add(("self", "run_process"))  # engine.notify: subprocess.run, passed in
_FORBIDDEN = {("os", "system"), ("os", "popen"), ("ffmpeg", "probe"), ("ffmpeg", "run"),
              ("ffmpeg", "run_async"), ("os", "execv"), ("os", "execvp"), ("os", "spawnv")}


def test_every_child_process_the_product_starts_gets_an_explicit_environment() -> None:
    """A new subprocess call without `env=` (or one through ffmpeg-python's own runner, which
    takes none) would inherit every secret: each spawn site must pass the scrubbed env."""
    import ast

    root = Path(__file__).resolve().parents[2]
    missing: list[str] = []
    spawns = 0
    for path in sorted([*root.glob("engine/**/*.py"), *root.glob("commands/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            where = f"{path.relative_to(root)}:{node.lineno}"
            if (owner_name, node.func.attr) in _FORBIDDEN:
                missing.append(f"{where} {owner_name}.{node.func.attr} (cannot scrub its env)")
            elif (owner_name, node.func.attr) in _SPAWNERS:
                spawns += 1
                if not any(k.arg == "env" for k in node.keywords):
                    missing.append(f"{where} {owner_name}.{node.func.attr} without env=")
    assert missing == []
    assert spawns >= 3  # the notify script, run_tool (ffmpeg/ffprobe), raw_exif (exiftool)
