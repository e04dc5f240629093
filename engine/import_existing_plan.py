"""Which files of an icloudpd tree can be adopted as downloads: pure decisions.

Invariants:
- Pure: the tree and the library are seen only through the `Probe` the caller passes (a
  file's size, kind and identity at a path; whether two files hold the same bytes).
- The names looked for are the download stage's own (engine.download.plan.plan_files with the
  config's naming policy, so icloudpd 1.32's rules): the icloudpd name, then under
  `name-size-dedup-with-suffix` its `NAME-<declared size>.EXT` twin, and for an original the
  `NAME-original.EXT` older icloudpd versions wrote; under `name-id7` the `_id7` name alone.
- A resource is adopted only when a regular file (not a symlink) sits at one of those paths
  with exactly the declared byte count, no other asset holds that path (in the ledger, or
  adopted earlier in this plan), and the library path is free, is that very file (same
  device and inode: the tree is the library, or a run linked it before), or holds the same
  bytes. The library path is the tree path: the file keeps its name and folder.
- Everything else is left for `download`, with the reason in words. A re-download asked for
  after a recover or a NAS repair (it must hash to a recorded sha256) is never adopted.
- The dry run and the run call `decide_asset` with the same inputs, so they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from engine.asset import MediaState
from engine.download.fetch import NameRegistry
from engine.download.plan import FilePlan, plan_files
from engine.icloud.model import ORIGINAL
from engine.naming import NAME_ID7, NamingPolicy, add_suffix, join_relpath

Placement = Literal["in_place", "link", "copy"]


@dataclass(frozen=True)
class FileInfo:
    """What the file system says about one path."""

    size_bytes: int
    is_regular: bool
    identity: tuple[int, int]  # (device, inode)


class Probe(Protocol):
    """How the decisions see the disk (engine.import_existing gives the real one)."""

    def info(self, path: Path) -> FileInfo | None: ...
    def same_bytes(self, first: Path, second: Path) -> bool: ...


@dataclass(frozen=True)
class ResourceDecision:
    """One missing resource of an asset: adopted from the tree, or left for download."""

    key: str
    declared_size_bytes: int
    checksum: str
    relpath: str  # the tree path adopted (= its library path), or the name download would use
    placement: Placement | None = None  # None: left for download
    reason: str = ""  # why it is left

    @property
    def is_adopted(self) -> bool:
        return self.placement is not None


@dataclass(frozen=True)
class AssetDecision:
    asset_id: str
    files: tuple[ResourceDecision, ...] = field(default_factory=tuple)

    @property
    def adopted(self) -> tuple[ResourceDecision, ...]:
        return tuple(f for f in self.files if f.is_adopted)

    @property
    def left(self) -> tuple[ResourceDecision, ...]:
        return tuple(f for f in self.files if not f.is_adopted)


def icloudpd_names(plan: FilePlan, policy: NamingPolicy) -> list[str]:
    """The names icloudpd 1.32 may have given this file, in the order it tries them."""
    plain = plan.candidates[0]
    if policy.file_match_policy == NAME_ID7:
        return [plain]
    names = [plain, plan.candidates[1]]
    if plan.key == ORIGINAL:
        names.append(add_suffix(plain, "-original"))
    return names


def decide_asset(
    asset_id: str,
    state: MediaState,
    *,
    tree: Path,
    library_root: Path,
    policy: NamingPolicy,
    resources: tuple[str, ...],
    registry: NameRegistry,
    probe: Probe,
) -> AssetDecision:
    """Adopt or leave each missing resource of one asset (claims adopted paths in `registry`)."""
    plans = plan_files(state, None, asset_key=asset_id, sizes=("original",), policy=policy,
                       resources=resources)
    root = probe.info(library_root)
    device = root.identity[0] if root is not None else -1
    decide = _Decider(asset_id, tree, library_root, device, policy, registry, probe)
    return AssetDecision(asset_id, tuple(decide(plan) for plan in plans))


@dataclass(frozen=True)
class _Decider:
    asset_id: str
    tree: Path
    library_root: Path
    library_device: int
    policy: NamingPolicy
    registry: NameRegistry
    probe: Probe

    def __call__(self, plan: FilePlan) -> ResourceDecision:
        left = _leave(plan, plan.first_relpath)
        if plan.expected_sha256:
            return left("a re-download of bytes recorded before: fetched from iCloud")
        reasons = []
        for name in icloudpd_names(plan, self.policy):
            relpath = join_relpath(plan.relfolder, name)
            verdict = self._try(plan, relpath)
            if isinstance(verdict, ResourceDecision):
                self.registry.claim(relpath, self.asset_id)
                return verdict
            if verdict:
                reasons.append(verdict)
        return left("; ".join(reasons) or "not in the tree")

    def _try(self, plan: FilePlan, relpath: str) -> ResourceDecision | str:
        """The adoption of the file at `relpath`, or why not ("" when there is no file)."""
        source = self.probe.info(self.tree / relpath)
        if source is None:
            return ""
        if not source.is_regular:
            return f"{relpath} is not a regular file"
        if source.size_bytes != plan.declared_size_bytes:
            return (f"{relpath} has {source.size_bytes} bytes, iCloud declares "
                    f"{plan.declared_size_bytes}")
        if self.registry.is_held_by_other(relpath, self.asset_id):
            return f"{relpath} belongs to another asset"
        placement, why = self._placement(relpath, source)
        if placement is None:
            return why
        return ResourceDecision(plan.key, plan.declared_size_bytes, plan.checksum, relpath,
                                placement)

    def _placement(self, relpath: str, source: FileInfo) -> tuple[Placement | None, str]:
        """How the file gets to its library path, or (None, why it cannot)."""
        target = self.probe.info(self.library_root / relpath)
        if target is None:  # a hard link on the same file system, else a copy
            return ("link" if source.identity[0] == self.library_device else "copy"), ""
        if target.identity == source.identity:
            return "in_place", ""
        if target.is_regular and target.size_bytes == source.size_bytes and (
            self.probe.same_bytes(self.tree / relpath, self.library_root / relpath)
        ):
            return "in_place", ""
        return None, f"the library already holds another file at {relpath}"


def _leave(plan: FilePlan, relpath: str) -> Callable[[str], ResourceDecision]:
    def leave(reason: str) -> ResourceDecision:
        return ResourceDecision(plan.key, plan.declared_size_bytes, plan.checksum, relpath,
                                None, reason)

    return leave
