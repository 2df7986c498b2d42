"""Per-layer latency lookup tables: measured once per target, summed to predict a model.

A model is cut into *parts*: the front-end, the stem, the look-ahead, each encoder layer, the
mid-encoder reduction, the encoder's own glue (positions, padding masks, final norm) and the
head with its greedy decoding. A part's *signature* names everything its latency depends on:
its kind and settings, its input and output widths, and the frames it sees for
``audio_s`` seconds of audio. Two models that share a signature share that part's cost.

Parts are timed inside real whole-model runs on the table's target
(:meth:`speechnas.hardware.Target.measure_parts`), so caches and thread pools are as warm as
in use: :func:`measure_parts` does it for PyTorch with forward hooks that mark where each part
starts and ends, :mod:`speechnas.hardware.onnx_parts` for ONNX Runtime from its profiler.
A :class:`LatencyTable` keeps the median per signature; :meth:`LatencyTable.estimate` sums a
new model's parts, and for a signature it has not seen, fits that kind's measured parts
(``ms ~ a + b * MACs + c * frames``, least squares) and uses the fit instead.

A streaming model's compute *per chunk* is not the sum of its whole-utterance parts (a chunk
is a few frames: fixed costs per call dominate), so the table also keeps chunk-by-chunk
records: the median compute per chunk of every streaming model profiled, fed chunk by chunk
on the target; :meth:`LatencyTable.estimate_chunk` predicts from them
(:mod:`speechnas.hardware.chunk_fit`).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechnas.arch import ATTENTION_ENCODERS, ArchSpec
from speechnas.hardware._files import write_json
from speechnas.hardware.chunk_fit import ChunkEstimate, ChunkFit, chunk_macs, chunk_seconds
from speechnas.models import SpeechModel
from speechnas.timing import noise

__all__ = ["LatencyTable", "Part", "measure_parts", "model_parts", "part_modules"]

#: Bumped when signatures change meaning; tables of another version are refused.
TABLE_VERSION = 2


@dataclass(frozen=True)
class Part:
    """One timed piece of a model.

    ``kind`` groups parts whose cost follows one curve (``layer:conformer:rel``);
    ``signature`` identifies the exact piece; ``frames`` are its input frames; ``macs`` its
    multiply-accumulates for the whole input.
    """

    kind: str
    signature: str
    frames: int
    macs: int


def _sig(*fields: object) -> str:
    return "|".join(str(f) for f in fields)


def model_parts(model: SpeechModel, spec: ArchSpec, audio_s: float) -> list[Part]:
    """The parts of ``model`` (built from ``spec``) in the order a forward runs them."""
    enc = model.encoder
    samples = int(round(audio_s * 16000))
    frames = model.feature_frames(audio_s)
    stream = spec.streaming
    causal = stream is not None
    parts = [
        Part(
            "frontend",
            _sig("frontend", spec.frontend, spec.n_mels, f"norm={not causal}", f"S={samples}"),
            samples,
            model.frontend_macs(audio_s),
        )
    ]
    stem_width = enc.stem_width
    parts.append(
        Part(
            f"stem:{spec.subsampling}",
            _sig(
                "stem",
                spec.subsampling,
                spec.stem_factor,
                spec.subsampling_channels,
                f"F={model.frontend.num_features}",
                f"w={stem_width}",
                f"causal={causal}",
                f"T={frames}",
            ),
            frames,
            enc.stem.macs(frames),
        )
    )
    t = enc.frames_after_stem(frames)
    if enc.lookahead is not None:
        assert stream is not None
        parts.append(
            Part(
                "lookahead",
                _sig("lookahead", stream.lookahead, f"w={stem_width}", f"T={t}"),
                t,
                enc.lookahead.macs(t),
            )
        )
    canonical = spec.canonical()
    attention = ""
    if spec.encoder in ATTENTION_ENCODERS:
        attention = _sig(
            spec.attention,
            canonical.get("attention_window", ""),
            json.dumps(canonical.get("streaming", {}), sort_keys=True),
        )
    in_width = stem_width
    for i, (layer, fields) in enumerate(zip(enc.kept_layers, canonical["layers"], strict=True)):
        if i == enc.reduction_at:
            assert enc.reduction is not None
            parts.append(
                Part(
                    "reduction",
                    _sig("reduction", f"w={in_width}", f"T={t}"),
                    t,
                    enc.reduction.macs(t),
                )
            )
            t = (t + 1) // 2
        kind = f"layer:{spec.encoder}" + (f":{spec.attention}" if attention else "")
        if "block" in fields:  # an attention-only or convolution-only Conformer layer
            kind += f":{fields['block']}"
        parts.append(
            Part(
                kind,
                _sig(
                    "layer",
                    spec.encoder,
                    f"in={in_width}",
                    json.dumps(fields, sort_keys=True),
                    attention,
                    f"causal={causal}",
                    f"T={t}",
                ),
                t,
                layer.macs(t),
            )
        )
        in_width = layer.width
    parts.append(
        Part(
            "encoder-glue",
            _sig("glue", f"w={enc.width}", f"positions={enc.positions}", f"T={t}"),
            t,
            0,
        )
    )
    tokens = round(12.0 * audio_s)
    decoder = json.dumps(spec.decoder.active(), sort_keys=True)
    parts.append(
        Part(
            f"head:{spec.decoder.kind}",
            _sig("head", decoder, f"w={enc.width}", f"V={_vocab(model)}", f"T={t}"),
            t,
            model.head.macs(t, tokens),
        )
    )
    return parts


def _vocab(model: SpeechModel) -> int:
    return int(getattr(model.head, "vocab_size", 0))


def part_modules(model: SpeechModel) -> list[nn.Module | None]:
    """The module of each of :func:`model_parts`, in the same order.

    The front-end, stem, look-ahead, reduction and layers are modules; the encoder's glue
    and the head with its decoding are ``None`` (they are what the modules leave).
    """
    enc = model.encoder
    modules: list[nn.Module | None] = [model.frontend, enc.stem]
    if enc.lookahead is not None:
        modules.append(enc.lookahead)
    for i, layer in enumerate(enc.kept_layers):
        if i == enc.reduction_at:
            modules.append(enc.reduction)
        modules.append(layer)
    return [*modules, None, None]


class _Clock:
    """Forward hooks that record when each hooked module starts and ends."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        self.starts: dict[int, float] = {}
        self.ends: dict[int, float] = {}
        self.handles = []
        for i, m in enumerate(modules):
            self.handles.append(m.register_forward_pre_hook(self._start(i)))
            self.handles.append(m.register_forward_hook(self._end(i)))

    def _start(self, i: int) -> Any:
        def hook(*_: Any) -> None:
            self.starts[i] = time.perf_counter()

        return hook

    def _end(self, i: int) -> Any:
        def hook(*_: Any) -> None:
            self.ends[i] = time.perf_counter()

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def measure_parts(
    model: SpeechModel,
    spec: ArchSpec,
    *,
    audio_s: float = 5.0,
    warmup: int = 2,
    repeats: int = 10,
) -> tuple[list[Part], list[float], float]:
    """Time each part of ``model`` inside whole transcriptions of ``audio_s`` s of noise.

    Returns:
        The parts, the median milliseconds of each, and the median whole-run milliseconds.
        Parts and whole runs come from the same ``repeats`` runs.
    """
    model.eval()
    parts = model_parts(model, spec, audio_s)
    enc = model.encoder
    timed = [m for m in part_modules(model) if m is not None]
    hooked: list[nn.Module] = [enc, *timed]
    clock = _Clock(hooked)
    wave = noise(audio_s)
    lens = torch.tensor([wave.shape[1]])
    per_part: list[list[float]] = [[] for _ in parts]
    totals: list[float] = []
    try:
        for run in range(warmup + repeats):
            start = time.perf_counter()
            model.transcribe_ids(wave, lens)
            end = time.perf_counter()
            if run < warmup:
                continue
            totals.append(end - start)
            # hooked[0] is the encoder, hooked[1:] the timed parts in order.
            times = [clock.ends[i] - clock.starts[i] for i in range(1, len(hooked))]
            encoder_total = clock.ends[0] - clock.starts[0]
            times.append(encoder_total - sum(times[1:]))  # glue: what the parts do not cover
            times.append(end - clock.ends[0])  # head and decoding
            for bucket, seconds in zip(per_part, times, strict=True):
                bucket.append(1000 * seconds)
    finally:
        clock.remove()
    return parts, [statistics.median(b) for b in per_part], 1000 * statistics.median(totals)


#: What makes two measurements comparable: the same target name, runtime, precision, threads.
_TARGET_KEYS = ("target", "runtime", "precision", "threads")


def _describe_target(info: dict[str, Any]) -> str:
    return (
        f"{info['target']} ({info['runtime']}, {info['precision']}, {info['threads']} thread(s))"
    )


@dataclass
class _Entry:
    kind: str
    frames: int
    macs: int
    ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms)


class LatencyTable:
    """Measured part latencies of one target at one audio length, and whole-model records.

    Args:
        target: the target's :meth:`~speechnas.hardware.Target.describe` record.
        audio_s: seconds of audio every entry was measured on.
    """

    def __init__(self, target: dict[str, Any], audio_s: float = 5.0) -> None:
        self.target = target
        self.audio_s = audio_s
        self.entries: dict[str, _Entry] = {}
        #: Whole models measured: ``{"spec": dict, "latency_ms": float, "parts":
        #: [[signature, ms], ...]}`` each.
        self.models: list[dict[str, Any]] = []
        #: Streaming models fed chunk by chunk: ``{"spec": dict, "chunk_audio_ms": float,
        #: "compute_ms": float (median compute per chunk), "macs": int (per chunk)}`` each.
        self.chunks: list[dict[str, Any]] = []
        self._fits: dict[str, np.ndarray] | None = None
        self._chunk_fit: ChunkFit | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def add(
        self, spec: ArchSpec, parts: Sequence[Part], ms: Sequence[float], total_ms: float
    ) -> None:
        """Record one model's measured parts and whole-run latency."""
        for part, value in zip(parts, ms, strict=True):
            entry = self.entries.setdefault(
                part.signature, _Entry(part.kind, part.frames, part.macs)
            )
            entry.ms.append(float(value))
        self.models.append(
            {
                "spec": spec.to_dict(),
                "latency_ms": float(total_ms),
                "parts": [[p.signature, float(v)] for p, v in zip(parts, ms, strict=True)],
            }
        )
        self._fits = None

    def add_chunks(self, spec: ArchSpec, model: SpeechModel, compute_ms: float) -> None:
        """Record a streaming model's median compute per chunk (of
        :func:`~speechnas.hardware.chunk_fit.chunk_seconds`).

        Raises:
            ValueError: ``spec`` is not streaming, or ``compute_ms`` is not a positive number.
        """
        if spec.streaming is None:
            raise ValueError(f"{spec.summary()} is not streaming: it has no chunks")
        _check_compute_ms(compute_ms, spec.summary())
        self.chunks.append(
            {
                "spec": spec.to_dict(),
                "chunk_audio_ms": 1000.0 * chunk_seconds(model),
                "compute_ms": float(compute_ms),
                "macs": int(chunk_macs(model)),
            }
        )
        self._chunk_fit = None

    def estimate_chunk(self, spec: ArchSpec, model: SpeechModel) -> ChunkEstimate:
        """Predicted compute per chunk of streaming ``spec`` (built as ``model``) on the
        table's target: its own record, or :class:`~speechnas.hardware.chunk_fit.ChunkFit`'s
        fit.

        Raises:
            ValueError: ``spec`` is not streaming, or the table has no chunk records.
        """
        if self._chunk_fit is None:
            self._chunk_fit = ChunkFit(self.chunks)
        return self._chunk_fit.estimate(spec, model)

    def without(self, indices: set[int]) -> LatencyTable:
        """The table as if the models at ``indices`` (of :attr:`models`) were never profiled.

        The learned predictor is fitted on features computed this way (cross-fitting), so that
        it learns how far the table is off for models it has not seen, as at prediction time.
        """
        out = LatencyTable(self.target, self.audio_s)
        for i, model in enumerate(self.models):
            if i in indices:
                continue
            for signature, value in model["parts"]:
                known = self.entries[signature]
                entry = out.entries.setdefault(
                    signature, _Entry(known.kind, known.frames, known.macs)
                )
                entry.ms.append(float(value))
            out.models.append(model)
        left_out = {_arch_id(self.models[i]["spec"]) for i in indices}
        out.chunks = [c for c in self.chunks if _arch_id(c["spec"]) not in left_out]
        return out

    def check_target(self, expected: dict[str, Any], source: object = "the table") -> None:
        """Refuse a table measured elsewhere than ``expected`` (a target's ``describe()``).

        The target name, runtime, precision and thread count must agree (an INT8 ONNX
        Runtime table is not a PyTorch one, nor one thread two).

        Raises:
            UserError: the message names both targets and ``source`` (e.g. the file).
        """
        from speechnas.errors import UserError

        held = {key: self.target.get(key) for key in _TARGET_KEYS}
        wanted = {key: expected.get(key) for key in _TARGET_KEYS}
        if held != wanted:
            raise UserError(
                f"{source} holds a latency table of {_describe_target(held)}, not "
                f"{_describe_target(wanted)}"
            )

    def lookup(self, part: Part) -> float | None:
        entry = self.entries.get(part.signature)
        return entry.median_ms if entry is not None else None

    def _fit(self) -> dict[str, np.ndarray]:
        """Per kind (and over all, key ``""``), least squares of ms on [1, MACs, frames]."""
        if self._fits is None:
            groups: dict[str, list[_Entry]] = defaultdict(list)
            for e in self.entries.values():
                groups[e.kind].append(e)
                groups[""].append(e)
            fits = {}
            for kind, entries in groups.items():
                x = np.array([[1.0, e.macs / 1e6, e.frames / 100.0] for e in entries])
                y = np.array([e.median_ms for e in entries])
                fits[kind] = np.linalg.lstsq(x, y, rcond=None)[0]
            self._fits = fits
        return self._fits

    def estimate(self, parts: Sequence[Part]) -> tuple[float, float]:
        """Predicted milliseconds of a model with these parts, and the share found exactly.

        Unseen signatures are estimated from their kind's fit (or the fit over all parts when
        the kind was never measured), never below zero.
        """
        if not self.entries:
            raise ValueError("the latency table is empty: profile some models first")
        fits = self._fit()
        total, hits = 0.0, 0
        for part in parts:
            value = self.lookup(part)
            if value is None:
                coef = fits.get(part.kind, fits[""])
                value = max(0.0, float(coef @ [1.0, part.macs / 1e6, part.frames / 100.0]))
            else:
                hits += 1
            total += value
        return total, hits / len(parts)

    # --- files ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": TABLE_VERSION,
            "target": self.target,
            "audio_s": self.audio_s,
            "entries": {sig: asdict(e) for sig, e in sorted(self.entries.items())},
            "models": self.models,
            "chunks": self.chunks,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatencyTable:
        """Read a table written by :meth:`save`.

        Raises:
            UserError: missing or unreadable file, or a table of another version.
        """
        from speechnas.errors import UserError

        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise UserError(f"latency table not found: {p}") from None
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"{p}: not a readable latency table: {e}") from None
        version = data.get("version") if isinstance(data, dict) else None
        if version != TABLE_VERSION:
            raise UserError(
                f"{p}: latency table version {version!r}, expected {TABLE_VERSION} "
                "(profile the target again)"
            )
        table = cls(data["target"], float(data["audio_s"]))
        for sig, raw in data["entries"].items():
            table.entries[sig] = _Entry(
                raw["kind"], int(raw["frames"]), int(raw["macs"]), list(raw["ms"])
            )
        table.models = list(data["models"])
        table.chunks = list(data.get("chunks", []))  # tables of streaming models only
        for record in table.chunks:
            try:
                _check_compute_ms(record["compute_ms"], "a chunk record")
            except (KeyError, TypeError, ValueError) as e:
                raise UserError(f"{p}: a bad chunk record: {e}") from None
        return table


def _check_compute_ms(value: object, what: str) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"compute per chunk of {what} must be a positive number, got {value!r}")


def _arch_id(spec: dict[str, Any]) -> str:
    return ArchSpec.from_dict(spec).arch_id
