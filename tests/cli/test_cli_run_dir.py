"""``results --run DIR`` and ``report --run DIR`` read and write the run in DIR, wherever it
was first written: a run folder moved or copied elsewhere is a whole run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from speechnas.cli import main
from speechnas.search.config import load_run_config
from speechnas.testing.search import tiny_search


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny search (two trials, one final model) written under its ``out_root``."""
    root = tmp_path_factory.mktemp("search")
    config = tiny_search(
        root,
        n_trials=2,
        fidelity={"rungs": [{"fraction": 1.0, "epochs": 1}], "min_trials": 2},
        final={"top_k": 1, "epochs": 1},
    )
    path = root / "search.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["search", "--config", str(path), "--no-progress"]) == 0
    run = root / "runs" / "tiny"
    assert (run / "final.json").is_file()
    shutil.rmtree(run / "report")
    return run


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def _mark_final(run: Path, marker: str) -> None:
    """Rename the final model in ``run``'s final.json, to tell this copy's report apart."""
    path = run / "final.json"
    final = json.loads(path.read_text())
    for model in final["models"]:
        model["summary"] = marker
    path.write_text(json.dumps(final))


def test_a_moved_run_is_read_where_it_is(
    finished_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Moved (nothing is left where it was written) and renamed; run from a third folder.
    moved = tmp_path / "archive" / "tiny-moved"
    moved.parent.mkdir()
    shutil.move(finished_run, moved)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    try:
        _mark_final(moved, "the-moved-run")
        assert main(["results", "--run", str(moved)]) == 0
        out = capsys.readouterr().out
        assert "tiny: 2 trials" in out and "2 of 2 trials finished" in out
        assert main(["report", "--run", str(moved)]) == 0
        assert "the-moved-run" in (moved / "report" / "index.html").read_text()
        assert not finished_run.exists() and list(elsewhere.iterdir()) == []
    finally:
        shutil.rmtree(moved / "report", ignore_errors=True)
        shutil.move(moved, finished_run)


def test_the_report_of_a_copy_goes_into_the_copy(
    finished_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = _copy(finished_run, tmp_path / "copy")
    _mark_final(copy, "the-copy")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--run", "copy"]) == 0
    assert "report: copy/report/index.html" in capsys.readouterr().out
    assert "the-copy" in (copy / "report" / "index.html").read_text()
    assert not (finished_run / "report").exists()
    # The copy's database is read, not the original's (set aside here, and not re-created).
    held = tmp_path / "held.db"
    shutil.move(finished_run / "study.db", held)
    try:
        assert main(["results", "--run", "copy", "--front"]) == 0
        assert "2 of 2 trials finished" in capsys.readouterr().out
        assert not (finished_run / "study.db").exists()
    finally:
        shutil.move(held, finished_run / "study.db")


def test_a_run_config_points_at_the_folder_it_was_read_from(
    finished_run: Path, tmp_path: Path
) -> None:
    copy = _copy(finished_run, tmp_path / "copy")
    config = load_run_config(copy)
    assert config.run_dir == copy and config.name == "tiny"
    assert config.storage_url == f"sqlite:///{(copy / 'study.db').resolve()}"
    assert "run_folder" not in config.to_dict()
    # A storage saved as the first location's default database is the default too.
    saved = yaml.safe_load((copy / "config.yaml").read_text())
    saved["storage"] = f"sqlite:///{(finished_run / 'study.db').resolve()}"
    (copy / "config.yaml").write_text(yaml.safe_dump(saved))
    assert load_run_config(copy).storage_url == config.storage_url
    # One named elsewhere (another database) stays as it was.
    saved["storage"] = "postgresql+psycopg://db.example/searches"
    (copy / "config.yaml").write_text(yaml.safe_dump(saved))
    assert load_run_config(copy).storage_url == saved["storage"]
