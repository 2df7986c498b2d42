from __future__ import annotations

import pytest
import torch

from speechnas.arch import ArchSpec
from speechnas.models import SpeechModel, build_model
from speechnas.timing import compare_latency, measure_latency

SPEC = ArchSpec.uniform(num_layers=1, width=16, heads=2, ffn_expansion=2.0, kernel=3, n_mels=40)


def _recording(order: list[str], name: str) -> SpeechModel:
    """A tiny model whose every transcription appends ``name`` to ``order``."""
    model = build_model(SPEC, vocab_size=8, specaugment=False)
    transcribe = model.transcribe_ids

    def recorded(*args: object, **kwargs: object) -> object:
        order.append(name)
        return transcribe(*args, **kwargs)  # type: ignore[arg-type]

    model.transcribe_ids = recorded  # type: ignore[method-assign,assignment]
    return model


def test_rounds_alternate_and_pool_every_call() -> None:
    order: list[str] = []
    models = {name: _recording(order, name) for name in ("a", "b", "c")}
    models["b"].train()
    models["a"].eval()
    before = torch.get_num_threads()
    out = compare_latency(models, rounds=3, audio_seconds=0.5, repeats=2, warmup=1, threads=1)
    assert list(out) == ["a", "b", "c"]
    # Each round: every model once (1 warm-up + 2 timed calls), the order rotated by one.
    firsts = order[::3]
    assert firsts == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert order == [name for name in firsts for _ in range(3)]
    for latency in out.values():
        assert latency.repeats == 6 and latency.threads == 1 and latency.audio_seconds == 0.5
        assert 0 < latency.median_s <= latency.p90_s
    assert models["b"].training and not models["a"].training  # modes restored
    assert torch.get_num_threads() == before


def test_one_model_is_timed_in_blocks() -> None:
    order: list[str] = []
    latency = measure_latency(_recording(order, "m"), audio_seconds=0.5, repeats=3, warmup=2)
    assert order == ["m"] * 15 and latency.repeats == 9  # 3 blocks of 2 + 3 calls
    order.clear()
    measure_latency(_recording(order, "m"), audio_seconds=0.5, repeats=3, warmup=2, blocks=1)
    assert order == ["m"] * 5


def test_the_lowest_block_median_is_the_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of load lifts one block's calls: the figure is the block it missed, while
    the 90th percentile still sees every call."""
    from speechnas import timing

    blocks = iter([[0.03, 0.03, 0.03], [0.01, 0.01, 0.05], [0.02, 0.02, 0.02]])
    monkeypatch.setattr(timing, "_timed", lambda fn, warmup, repeats: next(blocks))
    model = build_model(SPEC, vocab_size=8)
    latency = measure_latency(model, audio_seconds=0.5, repeats=3)
    assert latency.median_s == 0.01 and latency.p90_s == 0.03  # nearest rank of all 9
    blocks = iter([[0.03, 0.03, 0.03], [0.01, 0.01, 0.05], [0.02, 0.02, 0.02]])
    pooled = compare_latency({"m": model}, rounds=3, audio_seconds=0.5, repeats=3)["m"]
    assert pooled.median_s == 0.02  # without lowest_round: the median of every call


@pytest.mark.parametrize("bad", [{"rounds": 0}, {"repeats": 0}, {"audio_seconds": 0.0}])
def test_bad_arguments_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="need rounds"):
        compare_latency({"m": build_model(SPEC, vocab_size=8)}, **bad)  # type: ignore[arg-type]


def test_time_calls_in_blocks_takes_the_lowest_block_median(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from speechnas import timing

    blocks = iter([[0.03, 0.03, 0.03], [0.01, 0.01, 0.05], [0.02, 0.02, 0.02]])
    monkeypatch.setattr(timing, "_timed", lambda fn, warmup, repeats: next(blocks))
    t = timing.time_calls(lambda: None, repeats=3, blocks=3)
    assert (t.median_s, t.p90_s, t.repeats) == (0.01, 0.03, 9)
    with pytest.raises(ValueError, match="blocks >= 1"):
        timing.time_calls(lambda: None, blocks=0)
