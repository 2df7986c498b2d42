"""Training speed on an idle and on a busy machine, with libgomp's default spinning and with
speechnas's (``GOMP_SPINCOUNT=1000``, set when speechnas is imported before torch).

For each preset, a child process trains on one fixed batch (8 utterances of 4 s, random
audio: no data loading) for ``--seconds`` and reports optimiser steps per second, at 2 torch
threads; the two settings alternate, ``--repeats`` times each, and the mean is reported.
"Busy" runs two single-threaded CPU-bound loops beside it, one per core, as a shared machine
or a test suite next to other jobs would. Results are written as each finishes to
``benchmarks/results/busy_machine.json`` (a rerun skips those there; ``--fresh`` redoes all).

    .venv/bin/python benchmarks/busy_machine.py [--seconds 10] [--repeats 3] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from speechnas._provenance import cpu_name
from speechnas.reports import update_section

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "busy_machine.json"
PRESETS = ("conformer-ctc-xs", "conformer-ctc-s", "blstm-ctc", "cnn-ctc")
#: libgomp's own default (no OMP_WAIT_POLICY, no more threads than cores) and speechnas's.
SPINS = {"libgomp default": "300000", "speechnas": "1000"}

_STEPS = """
import sys, time
import torch
from speechnas.models import build_model
from speechnas.presets import preset
torch.manual_seed(0)
torch.set_num_threads(2)
model = build_model(preset(sys.argv[1]), vocab_size=32)
opt = torch.optim.AdamW(model.parameters(), 1e-3)
wave = torch.randn(8, 4 * 16000)
lens = torch.full((8,), 4 * 16000)
targets = torch.randint(1, 32, (8, 30))
target_lens = torch.full((8,), 30)
def step():
    loss = model(wave, lens, targets, target_lens)
    opt.zero_grad()
    loss.backward()
    opt.step()
for _ in range(2):
    step()
start, n = time.perf_counter(), 0
while time.perf_counter() - start < float(sys.argv[2]):
    step()
    n += 1
print(n / (time.perf_counter() - start))
"""


def _steps_per_second(preset: str, spin: str, seconds: float, busy: bool) -> float:
    env = {**os.environ, "GOMP_SPINCOUNT": spin}
    loaders = []
    if busy:
        loop = [sys.executable, "-c", "while True: pass"]
        loaders = [subprocess.Popen(loop) for _ in range(2)]
    try:
        done = subprocess.run(
            [sys.executable, "-c", _STEPS, preset, str(seconds)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        for p in loaders:
            p.kill()
            p.wait()
    return float(done.stdout.strip().splitlines()[-1])


def _key(preset: str, machine: str, spin: str) -> str:
    return f"{preset}|{machine}|{spin}"


def section(results: dict[str, Any]) -> str:
    info = results["info"]
    lines = [
        f"Measured on {info['cpu']}, 2 torch threads, {info['torch']}: optimiser steps per "
        f"second on one fixed batch (8 x 4 s of random audio, no data loading), mean of "
        f"{info['repeats']} runs of {info['seconds']:g} s per cell, the settings "
        "alternating. Busy: two single-threaded CPU-bound loops beside "
        "the training, one per core. Spin: `GOMP_SPINCOUNT`, how long an idle OpenMP thread "
        "of torch spins before it sleeps (libgomp's default 300,000; speechnas sets 1,000 "
        "when it is imported before torch, unless the variable is set).",
        "",
        "| preset | idle, libgomp default | idle, speechnas | busy, libgomp default "
        "| busy, speechnas | idle: speechnas / default | busy: speechnas / default |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for preset in PRESETS:
        runs = [results["runs"].get(_key(preset, m, s)) for m in ("idle", "busy") for s in SPINS]
        if not all(runs):
            continue
        cells = [sum(r) / len(r) for r in runs]
        lines.append(
            f"| {preset} | "
            + " | ".join(f"{c:.2f}" for c in cells)
            + f" | {cells[1] / cells[0]:.2f}x | {cells[3] / cells[2]:.2f}x |"
        )
    lines += ["", "Reproduce: `.venv/bin/python benchmarks/busy_machine.py`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="measure every cell again")
    args = parser.parse_args()
    import torch

    results: dict[str, Any] = {"runs": {}}
    if RESULTS.exists() and not args.fresh:
        results = json.loads(RESULTS.read_text())
    results["info"] = {
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "seconds": args.seconds,
        "repeats": args.repeats,
    }
    for preset in PRESETS:
        for machine in ("idle", "busy"):
            for repeat in range(args.repeats):
                for name, spin in SPINS.items():
                    rates = results["runs"].setdefault(_key(preset, machine, name), [])
                    if len(rates) > repeat:
                        continue
                    rate = _steps_per_second(preset, spin, args.seconds, machine == "busy")
                    rates.append(rate)
                    print(f"{_key(preset, machine, name)}: {rate:.2f} steps/s", flush=True)
                    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
    body = section(results)
    update_section(REPO / "BENCHMARKS.md", "busy-machine", "Training on a busy machine", body)
    print(body)


if __name__ == "__main__":
    main()
