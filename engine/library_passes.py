"""One pass per selected library: discover, download, album-move and delete run library by
library, each with the services narrowed to that library's zone.

Invariants:
- The libraries come from `icloud.library` (flags already merged) through
  engine.library_listing.selected_zones: the default, PrimarySync alone, costs no iCloud call
  and runs exactly as before; a wrong name or id is a ConfigError (exit 3) before any pass.
- A narrowed Services shares the ledger, projection, run and lock of the original; only its
  config's `icloud.library` names the one zone, so every stage's zone-scoped work (the sync
  token, the work lists, DeletePending, the selection's library) is that library's.
- Several libraries give one StageDetail: counts summed, and one text part per library named
  by its zone id.
- album-move and delete (`one_library`) work on one library at a time, resolved like download;
  `delete execute PLAN` takes the library of the plan's assets when several are selected.
- `download` resolves the libraries against the ledger (the zones discover recorded), so it
  and its dry run stay offline; several libraries give one DownloadSummary (numbers summed,
  lists joined), whose `not_selected` leaves out the other libraries' assets.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from engine.cleanup.audit import load_stored_plans
from engine.config import Config
from engine.discover.pages import DiscoverResult
from engine.discover.stage import DiscoverOptions, run_discover
from engine.download.options import DownloadSummary
from engine.errors import ConfigError
from engine.icloud.port import IcloudPort
from engine.icloud.zones import RemoteLibrary
from engine.libraries import resolve_libraries, selection_words, single_zone
from engine.library_listing import selected_zones
from engine.pipeline.summary import PipelineOptions, RunSummary, StageDetail
from engine.reporting import Reporter
from engine.services import Services
from projections.libraries import known_zones, waiting_by_zone
from projections.media import MediaProjection

StageFn = Callable[[Services, IcloudPort, PipelineOptions, RunSummary], StageDetail]


def narrowed(services: Services, zone: str) -> Services:
    """The same services with the config narrowed to one library zone."""
    if services.config.settings.icloud.library == zone:
        return services
    return dataclasses.replace(services, config=services.config.for_library(zone))


def library_services(services: Services, port: IcloudPort) -> list[tuple[str, Services]]:
    """(zone, narrowed services) for each library the config selects, in order."""
    return [(zone, narrowed(services, zone)) for zone in selected_zones(services.config, port)]


def per_library(stage: StageFn) -> StageFn:
    """The stage run once per selected library, its details merged."""

    def run(services: Services, port: IcloudPort, o: PipelineOptions, s: RunSummary
            ) -> StageDetail:
        passes = library_services(services, port)
        if len(passes) == 1:
            return stage(passes[0][1], port, o, s)
        details = [(zone, stage(scoped, port, o, s)) for zone, scoped in passes]
        return merge_details(details)

    return run


def merge_details(details: list[tuple[str, StageDetail]]) -> StageDetail:
    """One detail for several libraries: summed counts, each library's text after its id."""
    total: Counter[str] = Counter()
    for _zone, detail in details:
        total.update(detail.counts)
    text = "; ".join(f"{zone}: {detail.text}" for zone, detail in details)
    return StageDetail(text, dict(total))


def ledger_zones(config: Config, projection: MediaProjection) -> tuple[str, ...]:
    """The library zones the config selects among those the ledger knows (an id: as is)."""
    one = single_zone(config.settings.icloud.library)
    if one is not None:
        return (one,)
    listed = [RemoteLibrary(zone=z, database="private") for z in known_zones(projection)]
    return resolve_libraries(
        selection_words(config.settings.icloud.library), listed,
        source="icloud.library (or --library; among the libraries discovered so far)",
    )


def download_passes(
    services: Services, download: Callable[[Services], DownloadSummary]
) -> DownloadSummary:
    """`download` (a run or a dry run) once per selected library, summaries merged."""
    zones = ledger_zones(services.config, services.projection)
    if len(zones) == 1:
        return download(narrowed(services, zones[0]))
    summaries = []
    for zone in zones:
        waiting = waiting_by_zone(services.projection, "download")
        others = sum(count for z, count in waiting.items() if z != zone)
        summary = download(narrowed(services, zone))
        summary.not_selected = max(0, summary.not_selected - others)
        summaries.append(summary)
    return merge_summaries(summaries)


def merge_summaries(summaries: list[DownloadSummary]) -> DownloadSummary:
    """Numbers summed, lists joined, field by field."""
    merged = DownloadSummary()
    for field in dataclasses.fields(DownloadSummary):
        values: list[Any] = [getattr(s, field.name) for s in summaries]
        if values and isinstance(values[0], list):
            setattr(merged, field.name, [item for value in values for item in value])
        elif values:
            setattr(merged, field.name, sum(values))
    return merged


def one_library(services: Services, command: str) -> Services:
    """The services narrowed to the one library the config selects (among those discovered);
    a ConfigError when it selects several: `command` works on one library at a time."""
    zones = ledger_zones(services.config, services.projection)
    if len(zones) > 1:
        raise ConfigError(
            f"icloud.library selects {len(zones)} libraries ({', '.join(zones)}): `{command}` "
            "works on one at a time; pass --library NAME (`run` and `watch` take each in turn)"
        )
    return narrowed(services, zones[0])


def run_discover_libraries(
    services: Services, port: IcloudPort, *, workers: int, force_full: bool, reporter: Reporter
) -> list[tuple[str, DiscoverResult]]:
    """discover for each selected library in turn; each result's call counts are its own."""
    results: list[tuple[str, DiscoverResult]] = []
    login, cloudkit = port.calls.login, port.calls.cloudkit
    for zone, scoped in library_services(services, port):
        options = DiscoverOptions(zone=zone, workers=workers, force_full=force_full)
        result = run_discover(scoped, port, options, reporter)
        result.login_calls, login = result.login_calls - login, result.login_calls
        result.cloudkit_calls, cloudkit = result.cloudkit_calls - cloudkit, result.cloudkit_calls
        results.append((zone, result))
    return results


def plan_library(services: Services, plan_id: str) -> Services:
    """The services narrowed to the library of a stored deletion plan's assets, when the
    config selects several (a plan is made for one library); otherwise `one_library`."""
    zones = ledger_zones(services.config, services.projection)
    if len(zones) == 1:
        return narrowed(services, zones[0])
    plan = load_stored_plans(services).get(plan_id)
    ids = {entry.asset_id for entry in plan.entries} if plan is not None else set()
    planned = {state.zone for state in services.projection.states_of(ids).values()}
    if len(planned) == 1 and (zone := planned.pop()) in zones:
        return narrowed(services, zone)
    return one_library(services, "delete execute")
