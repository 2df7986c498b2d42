"""Time the built-in synthetic corpus: hours of audio per minute of wall time.

Target: at least 1 hour of audio in under 10 minutes on a 2-core machine.

    .venv/bin/python benchmarks/synth_speed.py [--hours 1.0]

Generates into a fresh temporary folder (no cache), then writes the result to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from speechnas._provenance import cpu_name
from speechnas.reports import update_section
from speechnas.synth import synthesize_corpus

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = synthesize_corpus(
            Path(tmp) / "corpus", hours=args.hours, seed=0, workers=args.workers, progress=False
        )
        wall = time.perf_counter() - start
    everything = result.splits["all"]
    hours, utts, speakers = everything.hours, everything.utterances, len(everything.speakers)
    body = "\n".join(
        [
            f"`speechnas data synth --hours {args.hours}` from an empty folder, "
            f"{args.workers} workers, on {cpu_name()}.",
            "",
            "| audio | utterances | voices | engines | wall time | audio per wall minute |",
            "|---:|---:|---:|---|---:|---:|",
            f"| {hours:.3f} h | {utts:,} | {speakers} | {', '.join(result.engines)} "
            f"| {wall / 60:.1f} min | {60 * hours / (wall / 60):.1f} min |",
            "",
            "Target: 1 h of audio in under 10 min. "
            "Reproduce: `.venv/bin/python benchmarks/synth_speed.py`",
        ]
    )
    update_section(REPO / "BENCHMARKS.md", "synth-speed", "Synthetic corpus generation", body)
    print(body)


if __name__ == "__main__":
    main()
