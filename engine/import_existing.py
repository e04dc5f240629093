"""`import-existing`: adopt the files an icloudpd tree holds, so nothing is downloaded twice.

Invariants:
- Works from the ledger alone (run `discover` first): no iCloud call, no download. Which
  files are adopted is decided by engine.import_existing_plan, the same way for the dry run
  and the run, in the download work list's order.
- An adopted file is hashed where it lies and recorded as `Downloaded` with provenance
  "adopted" (one fact per resource, original first); its bytes are never rewritten. Its
  library path is its tree path (under Hidden/ for a hidden asset kept apart, and under
  photoledger's name where icloudpd wrote a hidden-file name): when the tree is the library
  root it is adopted in place; otherwise it is hard-linked into the library (same file
  system), or copied there durably (engine.placement.place_copy: temp file, fsync, rename,
  folder fsync, library.file_mode) where a hard link is impossible. A linked or in-place
  file keeps its mode, owner and time: changing them would change icloudpd's file.
  photoledger never writes into a library file in place (every change is a new file renamed
  over it), so a hard-linked icloudpd file is never altered through the link.
- Right before recording, the library file is checked again: a regular file with the
  declared byte count; one that changed since the decision is left for download.
- Every asset waiting for download is looked for, selected or not (a file icloudpd has is
  adopted either way); only a selected asset's missing files are "left for download".
- The dry run writes nothing and reads no file's bytes except to compare a library file
  that is already there with the tree's (the run compares the same way).
- Facts are saved in batches from this thread; a stop keeps every asset already decided.
- An adopted file is checked by path and size only; the deletion gate counts it once iCloud's
  bytes hashed to it (engine.download.adoption: the next `download`, or at once with
  `confirm`, which then also downloads what it finds to differ).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.batching import Batcher
from engine.download.adoption import confirm_adoptions
from engine.download.fetch import NameRegistry, sync_folders
from engine.download.options import (
    COMPARE_ALL,
    DownloadSummary,
    download_options,
    naming_policy,
)
from engine.download.plan import downloaded_facts
from engine.errors import NotFoundError, StorageError
from engine.fsutil import sha256_file
from engine.icloud.port import IcloudPort
from engine.import_existing_plan import (
    AssetDecision,
    FileInfo,
    Placement,
    ResourceDecision,
    decide_asset,
)
from engine.naming import NamingPolicy
from engine.placement import make_folders, place_copy
from engine.reporting import Reporter
from engine.resources import ARCHIVE_KEYS
from engine.selection_scope import selection_scope
from engine.services import Services
from projections.download import held_relpaths
from projections.worklists import asset_count, worklist

STAGE = "import-existing"
_NO_LINK_ERRNOS = frozenset({errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK,
                             errno.EOPNOTSUPP})


@dataclass(frozen=True)
class ImportOptions:
    tree: Path
    dry_run: bool = False
    naming: NamingPolicy | None = None  # None: the config's (engine.download.options)
    local_tz: tzinfo | None = None  # the zone icloudpd dated folders in; None: this machine's
    save_every: int = 50
    confirm: bool = False  # then compare the adopted files with iCloud's bytes (needs a port)


@dataclass
class ImportSummary:
    """What a run adopted (or a dry run would), and what it leaves for download."""

    assets_adopted: int = 0  # every missing resource adopted
    assets_partly: int = 0  # some adopted, some left
    assets_left: int = 0  # nothing adopted
    files_adopted: int = 0
    bytes_adopted: int = 0
    linked: int = 0
    copied: int = 0
    in_place: int = 0
    adopted: list[str] = field(default_factory=list)  # library relpaths (and `(from X)`)
    left: list[tuple[str, str]] = field(default_factory=list)  # (relpath, reason)
    files_not_selected: int = 0  # not in the tree, of assets the selection leaves out
    confirmation: DownloadSummary | None = None  # `confirm`: the comparison with iCloud's bytes

    def counts(self) -> dict[str, int]:
        return {
            "assets_adopted": self.assets_adopted, "assets_partly": self.assets_partly,
            "assets_left": self.assets_left, "files_adopted": self.files_adopted,
            "bytes_adopted": self.bytes_adopted, "linked": self.linked, "copied": self.copied,
            "in_place": self.in_place, "files_left": len(self.left),
            "files_not_selected": self.files_not_selected,
        }


class DiskProbe:
    """The real file system for engine.import_existing_plan."""

    def info(self, path: Path) -> FileInfo | None:
        try:
            found = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror}") from None
        return FileInfo(found.st_size, stat.S_ISREG(found.st_mode), (found.st_dev, found.st_ino))

    def same_bytes(self, first: Path, second: Path) -> bool:
        try:
            return sha256_file(first) == sha256_file(second)
        except OSError as exc:
            raise StorageError(f"cannot read {exc.filename}: {exc.strerror}") from None


def run_import_existing(
    services: Services, options: ImportOptions, reporter: Reporter,
    port: IcloudPort | None = None,
) -> ImportSummary:
    """Adopt what the tree holds (or, with `dry_run`, say what would be adopted); with
    `confirm`, then compare every adopted file with iCloud's bytes through `port`."""
    summary = _import(services, options, reporter)
    if options.confirm and not options.dry_run and port is not None:
        download = dataclasses.replace(download_options(services.config),
                                       local_tz=options.local_tz,
                                       compare_adopted_before_utc=COMPARE_ALL)
        summary.confirmation = DownloadSummary()
        confirm_adoptions(services, port, download, reporter, summary.confirmation)
    return summary


def _import(services: Services, options: ImportOptions, reporter: Reporter) -> ImportSummary:
    tree = options.tree.absolute()
    if not tree.is_dir():
        raise NotFoundError(f"{tree} is not a folder")
    if asset_count(services.projection) == 0:
        raise NotFoundError(
            "the ledger holds no asset yet: run `photoledger discover` first (it lists what "
            "iCloud holds; import-existing then adopts the files of it that are in the tree)"
        )
    decisions = list(_decide_all(services, options, tree))
    summary = ImportSummary()
    total = sum(f.declared_size_bytes for d in decisions for f in d.adopted)
    reporter.started(STAGE, len(decisions), total)
    batcher = Batcher.for_ledger(services.ledger, options.save_every)
    folders: set[Path] = set()
    try:
        for decision in decisions:
            if options.dry_run:
                _count(summary, decision, decision.adopted)
                continue
            asset = services.ledger.get_asset(UUID(decision.asset_id))
            adopted = _adopt(services, asset, decision, tree, folders)
            _count(summary, decision, adopted)
            if adopted:
                batcher.add(asset)
            label = adopted[0].relpath if adopted else decision.files[0].relpath
            size_bytes = sum(f.declared_size_bytes for f in adopted)
            reporter.advance_bytes(size_bytes)
            outcome = "left for download" if decision.is_selected else "not selected"
            reporter.asset_done("ok" if adopted else outcome, label, size_bytes=size_bytes)
    finally:
        sync_folders(folders)
        batcher.flush()
    if not options.dry_run:
        services.record_stage_completed(STAGE, summary.counts())
    return summary


def _decide_all(services: Services, options: ImportOptions, tree: Path) -> list[AssetDecision]:
    config = services.config
    policy = options.naming or naming_policy(config, options.local_tz)
    registry = NameRegistry(held_relpaths(services.projection))
    resources = tuple(config.settings.download.resources) or ARCHIVE_KEYS
    probe = DiskProbe()
    scope = selection_scope(services, options.local_tz)
    found = []
    for asset_id in worklist(services.projection, "download"):
        state = services.ledger.get_asset(UUID(asset_id)).state
        decision = decide_asset(
            asset_id, state, tree=tree, library_root=config.library_root, policy=policy,
            resources=resources, registry=registry, probe=probe,
            hidden_apart=config.settings.selection.hidden == "separate",
        )
        if decision.files:
            found.append(replace(decision, is_selected=scope.reason(state) is None))
    return found


def _adopt(
    services: Services, asset: Asset, decision: AssetDecision, tree: Path, folders: set[Path]
) -> list[ResourceDecision]:
    """Place and record each adoptable file; returns those recorded."""
    root = services.config.library_root
    recorded = []
    for file in decision.adopted:
        source, target = tree / file.source_relpath, root / file.relpath
        method = _place(services, source, target, file, folders)
        if method is None:
            continue
        sha256 = sha256_file(target)
        facts = downloaded_facts(file.key, file.relpath, file.declared_size_bytes, sha256,
                                 file.checksum, provenance="adopted")
        asset.record(ev.Downloaded, services.run_id, **facts)
        recorded.append(replace(file, placement=method))
    return recorded


def _place(
    services: Services, source: Path, target: Path, file: ResourceDecision, folders: set[Path]
) -> Placement | None:
    """Put the file at its library path; the method used, or None when it changed meanwhile."""
    try:
        if file.placement in ("link", "copy"):
            make_folders(target.parent, services.config.library_modes())
            method = _link_or_copy(services, source, target, file.declared_size_bytes)
            folders.add(target.parent)
        else:
            method = "in_place"
        found = os.lstat(target)
    except OSError as exc:
        raise StorageError(f"cannot adopt {source}: {exc.strerror}") from None
    if not stat.S_ISREG(found.st_mode) or found.st_size != file.declared_size_bytes:
        return None
    return method


def _link_or_copy(
    services: Services, source: Path, target: Path, size_bytes: int
) -> Placement:
    try:
        os.link(source, target, follow_symlinks=False)
        return "link"
    except FileExistsError:
        return "in_place"  # placed by an earlier, interrupted run: checked like any other
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
    modes = services.config.library_modes()
    place_copy(target, source, tag="import", expected_size_bytes=size_bytes,
               mtime_s=source.stat().st_mtime, mode=modes.file_mode, owner=modes.owner)
    return "copy"


def _count(summary: ImportSummary, decision: AssetDecision,
           adopted: list[ResourceDecision] | tuple[ResourceDecision, ...]) -> None:
    done = {f.key for f in adopted}
    left = [f for f in decision.files if f.key not in done]
    summary.files_adopted += len(adopted)
    summary.bytes_adopted += sum(f.declared_size_bytes for f in adopted)
    for file in adopted:
        summary.adopted.append(file.label)
        if file.placement == "link":
            summary.linked += 1
        elif file.placement == "copy":
            summary.copied += 1
        else:
            summary.in_place += 1
    if not decision.is_selected:  # nothing to wait for: download leaves the asset out
        summary.files_not_selected += len(left)
        left = []
    for file in left:
        reason = file.reason or "changed in the tree since it was looked at"
        summary.left.append((file.relpath, reason))
    if adopted and not left:
        summary.assets_adopted += 1
    elif adopted:
        summary.assets_partly += 1
    elif left:
        summary.assets_left += 1
