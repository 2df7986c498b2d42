"""optuna-dashboard opens a search's study: its app serves the study on loopback."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from speechnas.search.store import SearchStore

dashboard = pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    store = SearchStore(url, "so762", ("wer", "latency_ms"), {"name": "so762"})
    trial = store.ask()
    store.tell(trial, [0.5, 20.0])
    store.close()
    server = make_server("127.0.0.1", 0, dashboard.wsgi(url), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def test_the_dashboard_lists_the_search_and_its_fidelity_twin(served: str) -> None:
    with urllib.request.urlopen(f"{served}/api/studies", timeout=60) as response:
        studies = json.load(response)["study_summaries"]
    by_name = {s["study_name"]: s for s in studies}
    assert set(by_name) == {"so762", "so762.fidelity"}
    assert len(by_name["so762"]["directions"]) == 2
    study_id = by_name["so762"]["study_id"]
    with urllib.request.urlopen(f"{served}/api/studies/{study_id}", timeout=60) as response:
        (trial,) = json.load(response)["trials"]
    assert trial["values"] == [0.5, 20.0]
