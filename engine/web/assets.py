"""The asset pages: search by file name, capture day and album; one asset's history, copies
and albums.

Invariants:
- Read-only: everything is read inside engine.services.open_reader (never the writer lock);
  the search is projections.asset_search's, the history is engine.history.run_history's (the
  same entry `photoledger history` uses), said in words by engine.web.assets_words.
- Both pages need a session (GET only, no form that changes anything); an unknown or malformed
  asset id is a 404 page, a malformed day a 400 page naming the field.
- A copy counts as verified only as the ledger says: the library copy by its size and sha256
  at download, the NAS copy by a re-read hashing to the downloaded sha256, the Pixel copy by
  Syncthing holding the exact staged file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.albums import album_path
from engine.asset_state import MediaState, is_in_icloud
from engine.errors import NotFoundError
from engine.history import albums_words, icloud_words, run_history
from engine.services import Services, open_reader
from engine.units import human_bytes
from engine.web.assets_words import (
    EntryWords,
    entry_words,
    when_words,
)
from engine.web.units import visible, with_code
from projections.albums import known_albums
from projections.asset_search import AssetQuery, run_commands, search_assets

if TYPE_CHECKING:
    from engine.web.app import WebUI


@dataclass(frozen=True)
class Copy:
    place: str  # "iCloud", "library", "NAS", "Pixel"
    where: str
    verification: str
    is_good: bool


@dataclass(frozen=True)
class AssetPage:
    asset_id: str
    filename: str
    summary: str
    copies: list[Copy]
    albums: list[str]
    albums_line: str
    icloud_line: str | None
    deletions: list[str]
    entries: list[EntryWords]


def routes(web: WebUI) -> list[Route]:
    pages = AssetPages(web)
    return [Route("/assets", pages.search, methods=["GET"]),
            Route("/assets/{asset_id}", pages.asset, methods=["GET"])]


class AssetPages:
    def __init__(self, web: WebUI) -> None:
        self.web = web

    def search(self, request: Request) -> Response:
        found = self.web.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        params = request.query_params
        form = {k: params.get(k, "").strip() for k in ("name", "day", "until", "album")}
        try:
            query = query_of(form)
        except ValueError as exc:
            return self.web.render(request, "assets.html", 400, csrf=found[1].csrf, form=form,
                                   result=None, message=str(exc))
        with open_reader(self.web.config, self.web.runtime) as services:
            searched = search_assets(services.projection, query)
        result = replace(searched, hits=[replace(h, filename=visible(h.filename))
                                         for h in searched.hits])
        return self.web.render(request, "assets.html", csrf=found[1].csrf, form=form,
                               result=None if query.is_empty else result, message=None,
                               human_bytes=human_bytes)

    def asset(self, request: Request) -> Response:
        found = self.web.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        try:
            asset_id = UUID(request.path_params["asset_id"])
        except ValueError:
            asset_id = None
        try:
            if asset_id is None:
                raise NotFoundError("not an asset id")
            with open_reader(self.web.config, self.web.runtime) as services:
                page = read_asset_page(services, asset_id)
        except NotFoundError:
            return self.web.render(request, "error.html", 404,
                                   message="No such asset in the ledger.")
        return self.web.render(request, "asset.html", csrf=found[1].csrf, page=page)


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a day (YYYY-MM-DD)") from None


def query_of(form: dict[str, str]) -> AssetQuery:
    """The search the form asks for: `day` alone is that day; with `until`, a range."""
    day, until = _day(form["day"], "day"), _day(form["until"], "until")
    if day and until and until < day:
        raise ValueError(f"until: {until} is before {day}")
    return AssetQuery(name=form["name"], day_from=day, day_to=until or day,
                      album=form["album"])


def read_asset_page(services: Services, asset_id: UUID) -> AssetPage:
    """One asset's page: its history in words, its copies and albums."""
    history = run_history(services, asset_id.hex)
    state = services.ledger.get_asset(history.asset_id).state
    named = {i: album_path(i, known) or k.name
             for known in [known_albums(services.projection, state.zone)]
             for i, k in known.items()}
    commands = run_commands(services.projection, {e.run_id for e in history.entries if e.run_id})
    return AssetPage(
        asset_id=history.asset_id.hex,
        filename=visible(state.filename or state.record_name),
        summary=_summary(state),
        copies=copies_of(state),
        albums=[a.path or f"{a.name or a.album_id} (removed)" for a in history.albums],
        albums_line=albums_words(history.albums),
        icloud_line=_marked(icloud_words(history.asset_id, history.icloud)),
        deletions=[_story(s.plan_id, s.requested_at_utc, s.outcome, s.problems)
                   for s in history.deletions],
        entries=[entry_words(e, named, commands) for e in reversed(history.entries)],
    )


def _marked(text: str | None) -> str | None:
    return None if text is None else with_code(text)


def _summary(s: MediaState) -> str:
    taken = when_words(s.captured_at_utc) if s.captured_at_utc else "capture time unknown"
    return f"{s.kind or 'asset'}, taken {taken}, {human_bytes(s.icloud_size_bytes)} in iCloud"


def _story(plan_id: str, requested: str, outcome: str, problems: list[str]) -> str:
    text = f"deletion (plan {plan_id[:12]}) requested {when_words(requested)}; outcome {outcome}"
    return text + "".join(f"; audit problem: {p}" for p in problems)


def copies_of(s: MediaState) -> list[Copy]:
    """Where the asset's bytes are, each copy with how it was verified."""
    return [_icloud_copy(s), _library_copy(s), _nas_copy(s), _pixel_copy(s)]


def _icloud_copy(s: MediaState) -> Copy:
    if is_in_icloud(s):
        return Copy("iCloud", s.record_name, f"listed, change tag {s.remote_change_tag}", True)
    if s.is_remote_deleted:
        return Copy("iCloud", s.record_name, "gone (deleted outside photoledger)", False)
    if s.deletion_state == "deleted":
        until = when_words(s.recoverable_until_utc)
        return Copy("iCloud", s.record_name, f"deleted; in Recently Deleted until {until}",
                    False)
    return Copy("iCloud", s.record_name, "deletion requested, iCloud's answer not recorded",
                False)


def _library_copy(s: MediaState) -> Copy:
    path = visible(s.compressed_relpath or s.local_relpath or "-")
    if s.local_removed_at_utc is not None:
        return Copy("library", path, f"removed {when_words(s.local_removed_at_utc)}", False)
    if s.sha256 is None:
        return Copy("library", "-", "not downloaded yet", False)
    files = ", ".join(f"{r.key.replace('_', ' ')} {human_bytes(r.size_bytes)}"
                      for r in s.resources_downloaded) or human_bytes(s.downloaded_size_bytes)
    text = (f"downloaded {when_words(s.downloaded_at_utc)}: {files}; each file's size and "
            f"sha256 checked (the original's: {s.sha256})")
    if s.compression_tier:
        text += (f"; re-encoded for the {s.compression_tier} tier "
                 f"{when_words(s.compressed_at_utc)}, now "
                 f"{human_bytes(s.size_bytes_after_compression)}")
    if s.missing_resources:
        text += f"; missing: {', '.join(s.missing_resources)}"
    return Copy("library", path, text, not s.missing_resources)


def _nas_copy(s: MediaState) -> Copy:
    where = visible(s.nas_relpath or "-")
    nas = f" (NAS {s.nas_id[:8]})" if s.nas_id else ""
    if s.nas_status is None:
        return Copy("NAS", where, "no copy yet", False)
    if s.nas_status == "mismatched":
        return Copy("NAS", where, "did not match the downloaded bytes "
                    f"{when_words(s.nas_mismatched_at_utc)}{nas}", False)
    if s.nas_status == "copied":
        return Copy("NAS", where, f"copied, not yet verified by a re-read{nas}", False)
    good = s.nas_verified_sha256 == s.sha256
    text = (f"re-read {when_words(s.nas_verified_at_utc)}: {len(s.nas_files)} file(s) hashed "
            + ("to the downloaded sha256" if good else "to an older download") + nas)
    if s.nas_status == "incomplete":
        text += "; a resource downloaded since is not verified yet"
    return Copy("NAS", where, text, good and s.nas_status == "verified")


def _pixel_copy(s: MediaState) -> Copy:
    if s.google_status == "verified":
        return Copy("Pixel", s.google_device_id or "-",
                    f"holds the exact file since {when_words(s.google_verified_at_utc)}", True)
    if s.google_status == "staged":
        return Copy("Pixel", "outbox", f"staged {when_words(s.google_staged_at_utc)}, "
                    "waiting for the Pixel to take it", False)
    return Copy("Pixel", "-", "not staged yet", False)
