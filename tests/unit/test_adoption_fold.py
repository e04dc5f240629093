"""Adopted downloads and their comparison with iCloud's bytes: the fold and the gate's words.

An adopted file (import-existing) is `adoption_unconfirmed` until AdoptionConfirmed of its
very sha256; AdoptionDisproved makes it missing again; a download from iCloud ends both. The
gate blocks an asset while any adopted resource is unconfirmed or disproved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine import events as ev
from engine.asset import Asset, MediaState, fold_fact
from engine.cleanup.gate import decide_deletable
from engine.download.fetch import NameRegistry
from engine.import_existing_plan import decide_asset
from engine.naming import NamingPolicy
from engine.resources import archived_hashes
from engine.selection import NO_SELECTION
from tests.factories import discover, new_run
from tests.unit.test_cleanup_gate import NAS_ID, NOW, codes, settings
from tests.unit.test_naming_options import FakeDisk

SHA_ADOPTED = "a" * 64
SHA_ICLOUD = "b" * 64


def adopt(asset: Asset, run_id: str, sha256: str = SHA_ADOPTED, *,
          provenance: str = "adopted", timestamp: object = None) -> None:
    s = asset.state
    extra = {"timestamp": timestamp} if timestamp is not None else {}
    asset.record(ev.Downloaded, run_id, local_relpath=f"2024/05/17/{s.filename}",
                 size_bytes=s.declared_size_bytes, sha256=sha256, resource="original",
                 checksum=s.remote_checksum, provenance=provenance, **extra)


def adopted_ready(index: int = 100) -> tuple[Asset, str]:
    """Adopted, NAS- and Google-verified a day before NOW, moved to DeletePending."""
    run = new_run()
    asset, run_id = discover(run, index), run.id.hex
    day = NOW - timedelta(days=1)
    adopt(asset, run_id, timestamp=day)
    asset.record(ev.NasVerified, run_id, sha256=SHA_ADOPTED, method="reread",
                 files=archived_hashes(asset.state), nas_id=NAS_ID, timestamp=day)
    asset.record(ev.GoogleVerified, run_id, device_id="PIXEL", size_bytes=1, timestamp=day)
    asset.record(ev.AlbumMoved, run_id, album_name="DeletePending", timestamp=day)
    return asset, run_id


def replayed(asset: Asset) -> MediaState:
    state = MediaState()
    for number, event in enumerate(asset.collect_events(), start=1):
        fold_fact(state, type(event), event, number)
    return state


def test_an_adopted_download_waits_for_confirmation_and_blocks_the_gate() -> None:
    asset, _run_id = adopted_ready()
    assert asset.state.adoption_unconfirmed == ("original",)
    assert asset.state.missing_resources == ()  # nothing to download: only to compare
    assert codes(asset) == ["adopted-unconfirmed"]
    blocks = decide_deletable(asset.state, NOW, settings(), NAS_ID, NO_SELECTION).blocks
    assert "not yet compared with iCloud's bytes" in str(blocks[0])
    assert "`run` compares it once it may leave iCloud" in str(blocks[0])


def test_a_confirmation_of_the_adopted_bytes_lets_the_gate_pass() -> None:
    asset, run_id = adopted_ready()
    asset.record(ev.AdoptionConfirmed, run_id,
                 resources=(ev.ResourceHash(key="original", sha256=SHA_ADOPTED),))
    assert asset.state.adoption_unconfirmed == ()
    assert codes(asset) == []


def test_a_confirmation_of_other_bytes_confirms_nothing() -> None:
    asset, run_id = adopted_ready()
    asset.record(ev.AdoptionConfirmed, run_id,
                 resources=(ev.ResourceHash(key="original", sha256=SHA_ICLOUD),))
    assert asset.state.adoption_unconfirmed == ("original",)
    assert codes(asset) == ["adopted-unconfirmed"]


def test_a_disproved_adoption_is_missing_again_and_blocks_until_downloaded() -> None:
    asset, run_id = adopted_ready()
    asset.record(ev.AdoptionDisproved, run_id, resource="original",
                 local_relpath=asset.state.local_relpath or "", adopted_sha256=SHA_ADOPTED,
                 icloud_sha256=SHA_ICLOUD, quarantine_relpath="Quarantine/x.JPG")
    s = asset.state
    assert (s.adoption_unconfirmed, s.adoption_disproved) == ((), ("original",))
    assert s.missing_resources == ("original",)  # back on the download work list
    assert s.last_error is not None and "not iCloud's bytes" in s.last_error
    assert codes(asset) == ["adopted-disproved"]
    adopt(asset, run_id, SHA_ICLOUD, provenance="downloaded")
    s = asset.state
    assert (s.adoption_unconfirmed, s.adoption_disproved, s.missing_resources) == ((), (), ())
    assert s.sha256 == SHA_ICLOUD and s.last_error is None
    # the backups held the adopted bytes: both are made again before any deletion
    assert s.nas_status is None and s.google_status is None
    assert "nas-not-verified" in codes(asset)


def test_facts_about_bytes_no_longer_current_change_nothing() -> None:
    asset, run_id = adopted_ready()
    adopt(asset, run_id, SHA_ICLOUD, provenance="downloaded")  # fetched from iCloud meanwhile
    before = asset.state.adoption_unconfirmed, asset.state.missing_resources
    asset.record(ev.AdoptionDisproved, run_id, resource="original", local_relpath="x",
                 adopted_sha256=SHA_ADOPTED, icloud_sha256=SHA_ICLOUD, quarantine_relpath="")
    assert (asset.state.adoption_unconfirmed, asset.state.missing_resources) == before == ((), ())
    assert asset.state.adoption_disproved == ()


def test_a_failed_comparison_is_shown_and_a_confirmation_clears_it() -> None:
    asset, run_id = adopted_ready()
    asset.record(ev.DownloadFailed, run_id, is_retriable=True,
                 error="adopted files not yet compared with iCloud's bytes (http_error): 404")
    assert asset.state.last_error is not None
    asset.record(ev.AdoptionConfirmed, run_id,
                 resources=(ev.ResourceHash(key="original", sha256=SHA_ADOPTED),))
    assert asset.state.last_error is None


def test_a_fold_from_scratch_equals_the_incremental_state() -> None:
    asset, run_id = adopted_ready()
    asset.record(ev.AdoptionDisproved, run_id, resource="original", local_relpath="x",
                 adopted_sha256=SHA_ADOPTED, icloud_sha256=SHA_ICLOUD, quarantine_relpath="")
    adopt(asset, run_id, SHA_ICLOUD, provenance="downloaded")
    incremental = asset.state
    assert replayed(asset) == incremental


def test_import_existing_never_adopts_again_a_file_icloud_disproved() -> None:
    run = new_run()
    asset, run_id = discover(run, 1, captured_at_utc=datetime(2024, 5, 17, 12, tzinfo=UTC)), \
        run.id.hex
    adopt(asset, run_id)
    asset.record(ev.AdoptionDisproved, run_id, resource="original",
                 local_relpath=asset.state.local_relpath or "", adopted_sha256=SHA_ADOPTED,
                 icloud_sha256=SHA_ICLOUD, quarantine_relpath="Quarantine/x")
    plain = "2024/05/17/IMG_0001.HEIC"
    disk = FakeDisk({Path("/tree") / plain: (asset.state.declared_size_bytes, 7)})
    decision = decide_asset(
        "a" * 32, asset.state, tree=Path("/tree"), library_root=Path("/lib"),
        policy=NamingPolicy(local_tz=UTC), resources=("original",), registry=NameRegistry({}),
        probe=disk)
    (file,) = decision.files
    assert file.placement is None and "not to be iCloud's bytes" in file.reason
