"""Config values are checked as the config is read: exit 2 naming the key and its range,
before anything is written."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from speechnas._config_io import Bounds, bounds_of, read_yaml
from speechnas.cli import main
from speechnas.cli._overrides import merge, parse_overrides
from speechnas.data.manifest import write_manifest
from speechnas.errors import ConfigError
from speechnas.search.config import SearchConfig, search_config_from_dict
from speechnas.testing.audio_fixtures import make_corpus
from speechnas.testing.search import tiny_search
from speechnas.train import TrainSettings
from speechnas.train.config import TrainConfig

#: (--set value, what stderr must say: the key, the value and the allowed range)
SEARCH_BAD_VALUES = [
    ("final.epochs=0", "final.epochs=0 is invalid; expected an integer >= 1"),
    (
        "train.batch_seconds=-5",
        "train.batch_seconds=-5.0 is invalid; expected a finite number > 0",
    ),
    ("train.max_batch_size=0", "train.max_batch_size=0 is invalid; expected an integer >= 1"),
    ("train.threads=0", "train.threads=0 is invalid; expected an integer >= 1"),
    ("seed=" + "9" * 400, "is invalid; expected an integer in [0, 4294967295]"),  # not a float
    (
        "fidelity.dev_utterances=0",
        "fidelity.dev_utterances=0 is invalid; expected an integer >= 1",
    ),
    ("latency_seconds=0", "latency_seconds=0.0 is invalid; expected a finite number > 0"),
    ("latency_repeats=0", "latency_repeats=0 is invalid; expected an integer >= 1"),
    ("seed=-1", "seed=-1 is invalid; expected an integer in [0, 4294967295]"),
    (
        "constraints.max_latency_ms=.nan",
        "constraints.max_latency_ms=nan is invalid; expected a finite number > 0",
    ),
    ("train.lr=.inf", "train.lr=inf is invalid; expected a finite number > 0"),
    ("final.top_k=-1", "final.top_k=-1 is invalid; expected an integer >= 0"),
    ('name=".."', "name='..' is invalid; expected a folder name"),
    ("name=a/b", "name='a/b' is invalid; expected a folder name"),
    (
        "fidelity.rungs=[{fraction: .nan, epochs: 1}]",
        "fidelity.rungs[0].fraction=nan is invalid; expected a finite number in (0, 1]",
    ),
    ("space.dropout=.inf", "space.dropout=inf is invalid; expected a finite number in [0, 1)"),
    (
        "space.heads=[0]",
        "space.heads=(0,) is invalid; expected a non-empty list of integers, each >= 1",
    ),
]

TRAIN_BAD_VALUES = [
    ("max_epochs=0", "max_epochs=0 is invalid; expected an integer >= 1"),
    ("batch_seconds=-5", "batch_seconds=-5.0 is invalid; expected a finite number > 0"),
    ("max_batch_size=0", "max_batch_size=0 is invalid; expected an integer >= 1"),
    ("threads=0", "threads=0 is invalid; expected an integer >= 1"),
    ("seed=-1", "seed=-1 is invalid; expected an integer in [0, 4294967295]"),
    ("lr=.inf", "lr=inf is invalid; expected a finite number > 0"),
    ("max_minutes=.nan", "max_minutes=nan is invalid; expected a finite number > 0"),
    ("speed_perturb=[]", "speed_perturb=() is invalid; expected a non-empty list"),
]


def _written(root: Path) -> list[Path]:
    """What a search or training run would have left under ``root``."""
    names = {"study.db", "trials", "config.yaml", "last.pt", ".lock", "run_info.json"}
    return [p for p in root.rglob("*") if p.name in names]


@pytest.fixture
def search_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(tiny_search(tmp_path)))
    return path


@pytest.mark.parametrize(("setting", "message"), SEARCH_BAD_VALUES)
def test_search_rejects_a_bad_value_before_any_work(
    search_yaml: Path, setting: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["search", "--config", str(search_yaml), "--set", setting, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (search_yaml.parent / "runs").exists()
    assert _written(search_yaml.parent) == []


@pytest.fixture
def train_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    train = write_manifest(make_corpus(tmp_path / "train", n=4, seed=0), tmp_path / "t.jsonl")
    path = tmp_path / "train.yaml"
    path.write_text(
        f"train_manifest: {train}\nout_dir: {tmp_path / 'run'}\n"
        "arch: {n_mels: 40, layers: [{width: 16, heads: 2, kernel: 3}]}\n"
        "max_epochs: 1\nbatch_seconds: 6.0\nthreads: 1\n"
    )
    return path


@pytest.mark.parametrize(("setting", "message"), TRAIN_BAD_VALUES)
def test_train_rejects_a_bad_value_before_any_work(
    train_yaml: Path, setting: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "--config", str(train_yaml), "--set", setting, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (train_yaml.parent / "run").exists()


def _numeric_fields(cls: type, prefix: str = "") -> list[tuple[str, type, Any]]:
    """``(dotted key, owning class, annotation)`` of every number in ``cls``'s config tree
    (an architecture checks itself, in its own terms, and is left out)."""
    out = []
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple:
            candidates = [hint] if args[0] in (int, float) else [args[0]]
        elif args:  # an optional
            candidates = [a for a in args if a is not type(None)]
        else:
            candidates = [hint]
        for arg in candidates:
            if arg in (int, float) or typing.get_args(arg)[:1] in ((int,), (float,)):
                out.append((f"{prefix}{name}", cls, arg))
            elif dataclasses.is_dataclass(arg) and arg.__name__ != "ArchSpec":
                out += _numeric_fields(arg, f"{prefix}{name}.")
    return out


SEARCH_NUMBERS = _numeric_fields(SearchConfig)
TRAIN_NUMBERS = _numeric_fields(TrainConfig)


def test_every_number_of_the_configs_has_a_range() -> None:
    unbounded = [
        key
        for key, cls, _ in SEARCH_NUMBERS + TRAIN_NUMBERS
        if key.rpartition(".")[2] not in bounds_of(cls)
    ]
    assert len(SEARCH_NUMBERS) > 40 and len(TRAIN_NUMBERS) > 15
    assert unbounded == []


def test_trial_settings_have_the_ranges_of_a_training_run() -> None:
    settings, train = bounds_of(TrainSettings), bounds_of(TrainConfig)
    assert settings and all(settings[k] == train[k] for k in settings)


def _out_of_range(bounds: Bounds, annotation: Any) -> Any:
    """A value just outside ``bounds`` (NaN for a float), a list of one for a tuple."""
    number = typing.get_args(annotation)[0] if typing.get_args(annotation) else annotation
    if number is float:
        bad: Any = math.nan
    elif bounds.ge is not None:
        bad = int(bounds.ge) - 1
    else:
        assert bounds.gt is not None, "every integer range here has a lower end"
        bad = int(bounds.gt)
    return [bad] if typing.get_origin(annotation) is tuple else bad


@pytest.mark.parametrize(
    ("key", "cls", "annotation"), SEARCH_NUMBERS, ids=[k for k, _, _ in SEARCH_NUMBERS]
)
def test_every_search_number_is_checked_on_reading(
    tmp_path: Path, key: str, cls: type, annotation: Any
) -> None:
    section, _, name = key.rpartition(".")
    bad = _out_of_range(bounds_of(cls)[name], annotation)
    if section == "fidelity.rungs":  # a list of rungs: one rung with the bad value
        override, shown = (
            {section: [{"fraction": 1.0, "epochs": 1, name: bad}]},
            f"{section}[0].{name}",
        )
    else:
        override, shown = {key: bad}, key
    with pytest.raises(ConfigError, match=rf"config\.{re.escape(shown)}=.* is invalid; expected"):
        search_config_from_dict(merge(tiny_search(tmp_path), override))


@pytest.mark.parametrize(
    ("key", "cls", "annotation"), TRAIN_NUMBERS, ids=[k for k, _, _ in TRAIN_NUMBERS]
)
def test_every_train_number_is_checked_on_reading(key: str, cls: type, annotation: Any) -> None:
    bad = _out_of_range(bounds_of(cls)[key], annotation)
    with pytest.raises(ConfigError, match=rf"config\.{key}=.* is invalid; expected"):
        TrainConfig.from_dict({"train_manifest": "t.jsonl", key: bad})


def test_a_string_choice_stays_as_typed(search_yaml: Path) -> None:
    overrides = parse_overrides(
        ["space.streaming=on", "space.time_reduction=no", "train.specaugment=off"]
    )
    config = search_config_from_dict(merge(read_yaml(search_yaml), overrides))
    assert config.space.streaming == "on"
    assert config.space.time_reduction is False and config.train.specaugment is False


def test_set_streaming_on_reaches_the_next_check(
    search_yaml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `on` is no longer the boolean true: the config is read past it to the bad n_trials.
    argv = ["search", "--config", str(search_yaml), "--set", "space.streaming=on"]
    assert main([*argv, "--set", "n_trials=0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "n_trials=0" in err and "space.streaming" not in err


def test_a_yaml_file_with_streaming_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("streaming: on\nencoders: [lstm]\ndecoders: [ctc]\nmax_layers: 2\n")
    assert main(["space", "count", "--config", str(path)]) == 0
    assert int(capsys.readouterr().out.split()[-1]) > 0


def test_trial_settings_default_to_the_recipe_of_a_training_run() -> None:
    """A trial trains with the recipe a ``speechnas train`` run gets by default."""
    settings = {f.name: f.default for f in dataclasses.fields(TrainSettings)}
    train = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert {k: v for k, v in settings.items() if train[k] != v} == {}
