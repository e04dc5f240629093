"""Which files of an icloudpd tree can be adopted as downloads: pure decisions.

Invariants:
- Pure: the tree and the library are seen only through the `Probe` the caller passes (a
  file's size, kind and identity at a path; whether two files hold the same bytes).
- The names looked for are the download stage's own (engine.download.plan.plan_files with the
  config's naming policy, so icloudpd 1.32's rules): the icloudpd name, then under
  `name-size-dedup-with-suffix` its `NAME-<declared size>.EXT` twin, and for an original the
  `NAME-original.EXT` older icloudpd versions wrote; under `name-id7` the `_id7` name alone.
  A hidden asset kept under Hidden/ (selection.hidden: separate) is looked for where icloudpd
  puts it, in the date folders, and placed under Hidden/. A name photoledger never writes
  (icloudpd's `.._x.MOV`, engine.naming_raw) is looked for too and placed under photoledger's.
- A resource is adopted only when a regular file (not a symlink) sits at one of those paths
  with exactly the declared byte count, no other asset holds that path (in the ledger, or
  adopted earlier in this plan), and the library path is free, is that very file (same
  device and inode: the tree is the library, or a run linked it before), or holds the same
  bytes. The library path is the tree path (but for Hidden/): the file keeps its name.
- Everything else is left for `download`, with the reason in words. A re-download asked for
  after a recover or a NAS repair (it must hash to a recorded sha256) is never adopted, nor
  a resource whose adopted file iCloud's bytes disproved (AdoptionDisproved): the tree
  still holds that wrong file.
- The dry run and the run call `decide_asset` with the same inputs, so they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from engine.asset import MediaState
from engine.download.fetch import NameRegistry
from engine.download.plan import FilePlan, naming_input, plan_files
from engine.icloud.model import ORIGINAL
from engine.naming import NAME_ID7, NamingPolicy, add_suffix, join_relpath
from engine.naming_raw import raw_dedup_name, raw_version_names

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
    relpath: str  # its library path, or the name download would use
    placement: Placement | None = None  # None: left for download
    reason: str = ""  # why it is left
    tree_relpath: str = ""  # the tree file adopted, when not at `relpath` (a hidden asset)

    @property
    def source_relpath(self) -> str:
        return self.tree_relpath or self.relpath

    @property
    def label(self) -> str:
        """`relpath`, with where it came from when that differs."""
        moved = self.tree_relpath and self.tree_relpath != self.relpath
        return f"{self.relpath} (from {self.tree_relpath})" if moved else self.relpath

    @property
    def is_adopted(self) -> bool:
        return self.placement is not None


@dataclass(frozen=True)
class AssetDecision:
    asset_id: str
    files: tuple[ResourceDecision, ...] = field(default_factory=tuple)
    is_selected: bool = True  # outside the selection, `download` will not fetch what is left

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
    hidden_apart: bool = False,
) -> AssetDecision:
    """Adopt or leave each missing resource of one asset (claims adopted paths in `registry`).

    With `hidden_apart` (selection.hidden: separate) a hidden asset's library path is under
    Hidden/, while icloudpd (`--album Hidden`) put it in the date folders: looked for there."""
    def plans(apart: bool) -> list[FilePlan]:
        return plan_files(state, None, asset_key=asset_id, sizes=("original",), policy=policy,
                          resources=resources, hidden_apart=apart)

    root = probe.info(library_root)
    device = root.identity[0] if root is not None else -1
    decide = _Decider(asset_id, tree, library_root, device, policy, registry, probe)
    found_plans = plans(False)
    types = {ORIGINAL: state.item_type} | {p.key: p.file_type for p in found_plans}
    raw = raw_version_names(naming_input(state), policy, types)
    pairs = zip(found_plans, plans(hidden_apart), strict=True)
    return AssetDecision(asset_id, tuple(
        _leave(placed, placed.first_relpath)(DISPROVED) if found.key in state.adoption_disproved
        else decide(found, placed, raw.get(found.key)) for found, placed in pairs
    ))


DISPROVED = ("adopted before and found not to be iCloud's bytes (moved to Quarantine/): "
             "downloaded from iCloud")


@dataclass(frozen=True)
class _Decider:
    asset_id: str
    tree: Path
    library_root: Path
    library_device: int
    policy: NamingPolicy
    registry: NameRegistry
    probe: Probe

    def __call__(
        self, found: FilePlan, placed: FilePlan, raw_name: str | None
    ) -> ResourceDecision:
        """`found`: where icloudpd put the file; `placed`: where the library keeps it;
        `raw_name`: icloudpd's own name when photoledger would not write it (a leading dot)."""
        left = _leave(placed, placed.first_relpath)
        if placed.expected_sha256:
            return left("a re-download of bytes recorded before: fetched from iCloud")
        reasons = []
        for tree_name, name in self._names(found, raw_name):
            paths = (join_relpath(found.relfolder, tree_name),
                     join_relpath(placed.relfolder, name))
            verdict = self._try(placed, *paths)
            if isinstance(verdict, ResourceDecision):
                for path in paths:
                    self.registry.claim(path, self.asset_id)
                return verdict
            if verdict:
                reasons.append(verdict)
        return left("; ".join(reasons) or "not in the tree")

    def _names(self, found: FilePlan, raw_name: str | None) -> list[tuple[str, str]]:
        """(name in the tree, name in the library), in the order icloudpd tries them."""
        ours = icloudpd_names(found, self.policy)
        pairs = [(name, name) for name in ours]
        if raw_name is not None and raw_name != ours[0]:
            raws = [raw_name]
            if self.policy.file_match_policy != NAME_ID7:
                raws.append(raw_dedup_name(raw_name, found.declared_size_bytes))
            pairs += list(zip(raws, ours, strict=False))
        return pairs

    def _try(self, plan: FilePlan, tree_relpath: str, relpath: str) -> ResourceDecision | str:
        """The adoption of the tree file at `tree_relpath` as `relpath`, or why not ("" when
        there is no file)."""
        source = self.probe.info(self.tree / tree_relpath)
        if source is None:
            return ""
        if not source.is_regular:
            return f"{tree_relpath} is not a regular file"
        if source.size_bytes != plan.declared_size_bytes:
            return (f"{tree_relpath} has {source.size_bytes} bytes, iCloud declares "
                    f"{plan.declared_size_bytes}")
        if any(self.registry.is_held_by_other(p, self.asset_id) for p in (tree_relpath, relpath)):
            return f"{tree_relpath} belongs to another asset"
        placement, why = self._placement(tree_relpath, relpath, source)
        if placement is None:
            return why
        return ResourceDecision(plan.key, plan.declared_size_bytes, plan.checksum, relpath,
                                placement, tree_relpath=tree_relpath)

    def _placement(
        self, tree_relpath: str, relpath: str, source: FileInfo
    ) -> tuple[Placement | None, str]:
        """How the file gets to its library path, or (None, why it cannot)."""
        target = self.probe.info(self.library_root / relpath)
        if target is None:  # a hard link on the same file system, else a copy
            return ("link" if source.identity[0] == self.library_device else "copy"), ""
        if target.identity == source.identity:
            return "in_place", ""
        if target.is_regular and target.size_bytes == source.size_bytes and (
            self.probe.same_bytes(self.tree / tree_relpath, self.library_root / relpath)
        ):
            return "in_place", ""
        return None, f"the library already holds another file at {relpath}"


def _leave(plan: FilePlan, relpath: str) -> Callable[[str], ResourceDecision]:
    def leave(reason: str) -> ResourceDecision:
        return ResourceDecision(plan.key, plan.declared_size_bytes, plan.checksum, relpath,
                                None, reason)

    return leave
