"""Moving over from the real icloudpd 1.32.3: its own tree and session, then photoledger.

Run (after tests/bench/setup_bench.sh, which puts icloudpd and mitmproxy in .venv-bench):

    .venv/bin/python tests/bench/check_icloudpd_import.py [--assets 30] [--seed 11]

Invariants:
- icloudpd runs as a child process that knows nothing of the simulator (HTTPS_PROXY and the
  proxy's CA, tests/bench/mitm_redirect.py), with TZ=UTC, `--size original --size
  alternative`, into a fresh folder and cookie folder.
- Its tree must equal, name for name and byte for byte, the one tests/icloudpd_tree.py lays
  out from icloudpd's rules for the same library: the test helper is checked against reality.
- Then photoledger, as a user would: `login --import-icloudpd-session` with no password set
  (icloudpd's session alone signs in), `discover`, `import-existing --dry-run` and the run
  (their lines must agree), `download`. Every file icloudpd wrote must be adopted, and
  `download` must fetch exactly the files import-existing left, and stream each adopted
  file once to compare it with iCloud's bytes, all confirmed (counted at the simulator).
- Exit 0 when every check holds, 1 with the failed checks listed otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import UTC
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.bench.bench_icloud_procs import (  # noqa: E402 (after the path)
    BENCH_VENV,
    compare_trees,
    digest_tree,
    running_proxy,
)
from tests.bench.bench_icloud_sim import PASSWORD, USERNAME, bench_simulator  # noqa: E402
from tests.icloudpd_tree import write_icloudpd_tree  # noqa: E402

PHOTOLEDGER = REPO_ROOT / ".venv" / "bin" / "photoledger"


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=600)


def content_requests(sim: object) -> int:
    entries = sim.server.requests.entries()  # type: ignore[attr-defined]
    return sum(1 for e in entries if e.kind == "content")


def check(assets: int, seed: int, work: Path) -> list[str]:
    problems: list[str] = []
    base = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOLEDGER_")}
    base |= {"TZ": "UTC"}
    with bench_simulator(assets, seed, latency_s=0.0, bandwidth_bytes_per_s=None) as sim, \
            running_proxy(sim.port, work / "mitm", work / "mitmdump.log") as proxy:
        icloudpd = run([str(BENCH_VENV / "bin" / "icloudpd"), "--username", USERNAME,
                        "--password", PASSWORD, "--directory", str(work / "icloudpd"),
                        "--cookie-directory", str(work / "pyicloud"), "--no-progress-bar",
                        "--size", "original", "--size", "alternative"],
                       base | proxy.client_env(), work)
        if icloudpd.returncode != 0:
            return [f"icloudpd exit {icloudpd.returncode}: {icloudpd.stdout[-2000:]}"]
        database = sim.server.accounts[USERNAME].database
        expected = write_icloudpd_tree(database.state, work / "expected", tz=UTC)  # type: ignore[attr-defined]
        diff = compare_trees(digest_tree(work / "expected"), digest_tree(work / "icloudpd"))
        if not diff.is_equal:
            problems.append(f"tests/icloudpd_tree.py differs from icloudpd: only the helper "
                            f"{diff.only_left}, only icloudpd {diff.only_right}, other bytes "
                            f"{diff.different_bytes}")
        env = base | {"PHOTOLEDGER_ICLOUD_ENDPOINT": sim.base_url}
        config = ["--config", str(work / "photoledger.yaml"), "--no-progress"]
        steps = [
            ["init", "--library-root", str(work / "library"), "--username", USERNAME,
             "--session-dir", str(work / "session")],
            ["login", "--import-icloudpd-session", str(work / "pyicloud")],
            ["discover"],
            ["import-existing", "--dry-run", str(work / "icloudpd")],
            ["import-existing", str(work / "icloudpd")],
        ]
        outputs = []
        for step in steps:
            done = run([str(PHOTOLEDGER), *config, *step], env, work)
            outputs.append(done.stdout)
            if done.returncode != 0:
                return [*problems, f"photoledger {step[0]} exit {done.returncode}: {done.stderr}"]
        dry = [line.removeprefix("would ") for line in outputs[3].splitlines()]
        if dry != outputs[4].splitlines():
            problems.append("import-existing --dry-run and the run disagree")
        files = len(expected.relpaths())
        if f"adopt {files} files" not in outputs[4]:
            problems.append(f"not every one of icloudpd's {files} files was adopted")
        left = sum(1 for line in outputs[4].splitlines() if line.startswith("leave "))
        before = content_requests(sim)
        plain = run([str(PHOTOLEDGER), *config, "download"], env, work)
        fetched = content_requests(sim) - before
        # download fetches only what import-existing left: nothing adopted
        if plain.returncode != 0 or fetched != left:
            problems.append(f"download exit {plain.returncode}, {fetched} content requests, "
                            f"import-existing left {left}")
        before = content_requests(sim)
        done = run([str(PHOTOLEDGER), *config, "download", "--compare-adopted"], env, work)
        compared = content_requests(sim) - before
        # each adopted file is streamed once to compare it with iCloud's bytes (nothing written)
        if done.returncode != 0 or compared != files:
            problems.append(f"download --compare-adopted exit {done.returncode}, {compared} "
                            f"content requests for {files} adopted files")
        if f"{files} confirmed, 0 not iCloud's" not in done.stdout:
            problems.append(f"not every adopted file was confirmed: {done.stdout}")
        print(outputs[4].splitlines()[-2])
        print(f"download: {fetched} content requests ({left} left by import-existing); "
              f"--compare-adopted: {compared} for {files} adopted files")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if not (BENCH_VENV / "bin" / "icloudpd").exists():
        print("run tests/bench/setup_bench.sh first (icloudpd 1.32.3 and mitmproxy)")
        return 1
    with tempfile.TemporaryDirectory(prefix="icloudpd-import-") as folder:
        problems = check(args.assets, args.seed, Path(folder))
    for problem in problems:
        print(f"FAILED: {problem}")
    print("ok" if not problems else f"{len(problems)} checks failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
