"""The notebooks execute headless against a small ledger and show the reports' figures."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.factories import REPO_ROOT, make_library
from tests.reports_world import populate_reports_world


@pytest.mark.parametrize("name", ["savings", "backlog"])
def test_notebook_executes(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = make_library(tmp_path)
    expected = populate_reports_world(library)
    monkeypatch.setenv("PHOTOLEDGER_CONFIG", str(library.config_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(book, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                   for o in outputs)
    if name == "savings":
        assert f"'compression_saved_bytes': {expected.bytes_before - expected.bytes_after}" in text
    else:
        assert "gate: too-recent" in text and "quarantined: size_mismatch" in text
