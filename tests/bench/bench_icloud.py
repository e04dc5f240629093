"""iCloud sync benchmark: photoledger against icloudpd 1.32.3, both on one simulator, one proxy.

Standalone script (pytest does not collect it); needs tests/bench/setup_bench.sh first:

    .venv/bin/python tests/bench/bench_icloud.py [--assets 2000] [--repeat 3] [--latency-ms 50]
        [--bandwidth-mbps 20] [--rss-assets 100000] [--profile] [--json out.json]

Invariants:
- One simulator (in this process) and one mitmdump serve both tools, with the same latency per
  login/CloudKit call and the same bandwidth per connection, so any difference is the tools'.
- Both tools run as child processes that know nothing of the simulator: they speak to Apple's
  host names over HTTPS_PROXY, and the proxy sends everything to the simulator. photoledger runs
  without PHOTOLEDGER_ICLOUD_ENDPOINT, on the same path icloudpd takes.
- Call counts come from the simulator's own request log, reset before each child, never from
  what a tool says about itself.
- Every repeat starts both tools from empty folders and fresh sessions; the library in iCloud
  does not change between repeats, so the second run of each tool finds nothing new.
- Targets are judged on medians over the repeats; a failed child counts as a MISS, with its log.
See tests/bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.bench.bench_icloud_procs import (  # noqa: E402
    BENCH_VENV,
    ChildRun,
    Proxy,
    compare_trees,
    describe_diff,
    digest_tree,
    own_cpu_s,
    process_cpu_s,
    run_child,
    run_child_peak_rss,
    running_proxy,
)
from tests.bench.bench_icloud_report import (  # noqa: E402
    Repeat,
    ToolRun,
    explain_differences,
    judge_rss,
    judge_sync,
    print_ceiling,
    print_profiles,
    print_repeat,
    print_table,
)
from tests.bench.bench_icloud_sim import (  # noqa: E402
    PASSWORD,
    SIZE_SCALE,
    USERNAME,
    BenchSimulator,
    bench_simulator,
)

PHOTOLEDGER = REPO_ROOT / ".venv" / "bin" / "photoledger"
ICLOUDPD = BENCH_VENV / "bin" / "icloudpd"
STATE_FOLDER = ".photoledger"
CHILD_TIMEOUT_S = 3600.0


class Bench:
    """Runs children against one simulator through one proxy, in one scratch folder."""

    def __init__(self, workdir: Path, proxy: Proxy, sim: BenchSimulator, profile: bool) -> None:
        self.workdir, self.proxy, self.sim, self.profile = workdir, proxy, sim, profile
        self.calls = sim.calls

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOLEDGER_")}
        return env | self.proxy.client_env()

    def step(
        self,
        tool: ToolRun,
        phase: str,
        name: str,
        argv: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
    ) -> ChildRun:
        """Run one child with the request log reset first; file its time and calls under phase."""
        self.calls.reset()
        log = self.workdir / "logs" / f"{tool_name(argv)}-{phase}-{name}.log"
        proxy_cpu_s, sim_cpu_s = process_cpu_s(self.proxy.pid), own_cpu_s()
        child = run_child(argv, env=env, cwd=cwd, log_path=log, timeout_s=CHILD_TIMEOUT_S)
        tool.cpu_s[f"{phase} {name}"] = {
            "tool": child.cpu_s,
            "mitmdump": process_cpu_s(self.proxy.pid) - proxy_cpu_s,
            "simulator": own_cpu_s() - sim_cpu_s,
        }
        steps, calls = (
            (tool.first_steps_s, tool.first_calls)
            if phase == "first"
            else (tool.second_steps_s, tool.second_calls)
        )
        steps[name] = child.wall_s
        for kind, count in self.calls.by_kind().items():
            calls[kind] = calls.get(kind, 0) + count
        if not child.is_ok:
            tool.failures.append(
                f"{name} ({phase}) exit {child.exit_code}, log {log}:\n{child.tail()}"
            )
        return child

    def photoledger_argv(self, config: Path, *args: str, profile_name: str = "") -> list[str]:
        base = [str(PHOTOLEDGER), "--config", str(config), "--no-progress", *args]
        if not (self.profile and profile_name):
            return base
        out = self.workdir / "profiles" / f"{profile_name}.pstats"
        out.parent.mkdir(parents=True, exist_ok=True)
        return [sys.executable, "-m", "cProfile", "-o", str(out), *base]

    def run_photoledger(self, folder: Path, tag: str) -> tuple[ToolRun, Path]:
        tool, library = ToolRun(), folder / "library"
        folder.mkdir(parents=True)
        config = folder / "photoledger.yaml"
        env = self.base_env() | {"PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        init = [
            str(PHOTOLEDGER),
            "--config",
            str(config),
            "init",
            "--library-root",
            str(library),
            "--username",
            USERNAME,
            "--session-dir",
            str(folder / "session"),
        ]
        plan = [
            ("init", init),
            ("discover", self.photoledger_argv(config, "discover", profile_name=f"discover-{tag}")),
            ("download", self.photoledger_argv(config, "download", profile_name=f"download-{tag}")),
        ]
        for name, argv in plan:
            if not self.step(tool, "first", name, argv, cwd=folder, env=env).is_ok:
                break
        tool.first_s = sum(tool.first_steps_s.values())
        for name in ("discover", "download"):
            argv = self.photoledger_argv(config, name, profile_name=f"{name}-second-{tag}")
            self.step(tool, "second", name, argv, cwd=folder, env=env)
        tool.second_s = sum(tool.second_steps_s.values())
        return tool, library

    def run_icloudpd(self, folder: Path) -> tuple[ToolRun, Path]:
        tool, photos = ToolRun(), folder / "photos"
        scratch = folder / "cwd"  # icloudpd drops icloudpd-photo-error.json into its cwd
        scratch.mkdir(parents=True)
        argv = [
            str(ICLOUDPD),
            "--username",
            USERNAME,
            "--password",
            PASSWORD,
            "--directory",
            str(photos),
            "--cookie-directory",
            str(folder / "cookies"),
            "--no-progress-bar",
            "--log-level",
            "info",
        ]
        for phase in ("first", "second"):
            self.step(tool, phase, "sync", argv, cwd=scratch, env=self.base_env())
        tool.first_s = tool.first_steps_s["sync"]
        tool.second_s = tool.second_steps_s["sync"]
        for leftover in scratch.iterdir():
            tool.failures.append(f"icloudpd left {leftover.name} in its cwd (see {leftover})")
        return tool, photos

    def run_repeat(self, index: int) -> Repeat:
        folder = self.workdir / f"repeat-{index}"
        # Alternate the order so neither tool always runs on a warmer machine.
        if index % 2 == 0:
            pl, pl_tree = self.run_photoledger(folder / "photoledger", str(index))
            ipd, ipd_tree = self.run_icloudpd(folder / "icloudpd")
        else:
            ipd, ipd_tree = self.run_icloudpd(folder / "icloudpd")
            pl, pl_tree = self.run_photoledger(folder / "photoledger", str(index))
        pl_files, ipd_files = digest_tree(pl_tree, (STATE_FOLDER,)), digest_tree(ipd_tree)
        diff = compare_trees(pl_files, ipd_files)
        report = describe_diff(diff, "photoledger", "icloudpd")
        report += explain_differences(diff, pl_files, ipd_files, self.sim.owners)
        report.append(self.sim.facts.expectation(diff.left_files, diff.left_bytes))
        return Repeat(pl, ipd, diff.is_equal and diff.left_files > 0, report)


def tool_name(argv: list[str]) -> str:
    return "icloudpd" if any(a.endswith("icloudpd") for a in argv) else "photoledger"


def measure_rss(workdir: Path, assets: int, seed: int) -> tuple[ChildRun, int]:
    """Peak RSS of `photoledger discover` (a first full scan) over a library of `assets`."""
    folder = workdir / "rss"
    folder.mkdir(parents=True)
    config = folder / "photoledger.yaml"
    with bench_simulator(assets, seed, latency_s=0.0, bandwidth_bytes_per_s=None) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOLEDGER_")}
        # Memory is a property of the process, not of the path its bytes take: go direct.
        env |= {
            "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD,
            "PHOTOLEDGER_ICLOUD_ENDPOINT": sim.base_url,
        }
        init = [
            str(PHOTOLEDGER),
            "--config",
            str(config),
            "init",
            "--library-root",
            str(folder / "library"),
            "--username",
            USERNAME,
            "--session-dir",
            str(folder / "session"),
        ]
        run_child(init, env=env, cwd=folder, log_path=folder / "init.log", timeout_s=300)
        argv = [str(PHOTOLEDGER), "--config", str(config), "--no-progress", "discover"]
        log = folder / "discover.log"
        child = run_child_peak_rss(
            argv, env=env, cwd=folder, log_path=log, timeout_s=CHILD_TIMEOUT_S
        )
        return child, sim.calls.by_kind().get("cloudkit", 0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--assets", type=int, default=2000, help="assets in the synced library")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of runs (a) and (b)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per login/CloudKit call")
    parser.add_argument(
        "--bandwidth-mbps",
        type=float,
        default=20.0,
        help="MB/s (10^6 bytes) per content connection; 0 = unlimited",
    )
    parser.add_argument(
        "--size-scale",
        type=float,
        default=SIZE_SCALE,
        help="multiplies the generator's realistic file sizes",
    )
    parser.add_argument(
        "--rss-assets",
        type=int,
        default=100_000,
        help="library size for the discover memory run (c); 0 skips it",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run photoledger under cProfile (timings inflate) and print the top",
    )
    parser.add_argument("--top", type=int, default=25, help="rows per profile listing")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the scratch folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    return parser.parse_args(argv)


def check_prerequisites() -> None:
    for program, hint in (
        (ICLOUDPD, "run tests/bench/setup_bench.sh"),
        (PHOTOLEDGER, "run scripts/setup.sh"),
    ):
        if not program.exists():
            raise SystemExit(f"{program} is missing: {hint}")


def run_sync_repeats(args: argparse.Namespace, workdir: Path) -> list[Repeat]:
    if args.repeat < 1:
        return []
    bandwidth = args.bandwidth_mbps * 1_000_000 or None
    with bench_simulator(
        args.assets,
        args.seed,
        latency_s=args.latency_ms / 1000,
        bandwidth_bytes_per_s=bandwidth,
        size_scale=args.size_scale,
    ) as sim:
        print(sim.facts.expectation(0, 0).split("; photoledger")[0])
        for name in sim.neutralised_wire_names:
            print(f"non-UTF-8 filenameEnc replaced by {name} (icloudpd 1.32.3 stops on it)")
        with running_proxy(sim.port, workdir / "mitm-conf", workdir / "mitmdump.log") as proxy:
            bench = Bench(workdir, proxy, sim, args.profile)
            repeats = []
            for index in range(args.repeat):
                repeats.append(bench.run_repeat(index))
                print_repeat(index, repeats[-1], sim)
                # Each repeat holds two full trees; only the last one is worth keeping.
                if index + 1 < args.repeat and not args.keep:
                    shutil.rmtree(workdir / f"repeat-{index}", ignore_errors=True)
    return repeats


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_prerequisites()
    workdir = Path(tempfile.mkdtemp(prefix="bench_icloud_", dir=args.tmpdir))
    print(
        f"bench_icloud: {args.assets} assets, {args.repeat} repeats, {args.latency_ms:g} ms per "
        f"call, {args.bandwidth_mbps:g} MB/s per connection, sizes x{args.size_scale:g}; "
        f"scratch {workdir}"
    )
    try:
        repeats = run_sync_repeats(args, workdir)
        rss = None
        if args.rss_assets > 0:
            rss, rss_calls = measure_rss(workdir, args.rss_assets, args.seed)
            print(
                f"\n(c) discover over {args.rss_assets:,} assets: peak RSS {rss.peak_rss_mb:.0f} MB, "
                f"{rss.wall_s:.1f} s, {rss_calls} CloudKit calls, exit {rss.exit_code}"
            )
            if not rss.is_ok:
                print(rss.tail())
        rows = judge_sync(repeats) + judge_rss(rss)
        print_ceiling(repeats, os.cpu_count() or 1)
        print_table(rows)
        if args.profile:
            print_profiles(workdir, args.top)
        if args.json:
            payload: dict[str, Any] = {
                "args": {k: str(v) for k, v in vars(args).items()},
                "repeats": [asdict(r) for r in repeats],
                "rss_mb": rss.peak_rss_mb if rss else None,
                "table": [{"target": t, "measured": m, "pass": p} for t, m, p in rows],
            }
            args.json.write_text(json.dumps(payload, indent=2, default=str))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(met for _, _, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
