"""``speechnas data synth``: the built-in synthetic corpus; ``speechnas data speak``: a
corpus's transcripts spoken in their languages."""

from __future__ import annotations

import argparse

from speechnas.cli._types import positive_float, positive_int
from speechnas.errors import UserError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "synth",
        help="generate the built-in synthetic corpus",
        description=(
            "Synthesise a seeded multi-voice English voice-assistant corpus with the offline "
            "TTS engines installed (espeak-ng, flite, festival), with speaker-disjoint "
            "train/dev/test manifests. Re-running with the same arguments is instant."
        ),
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--hours", type=positive_float, default=1.0, help="total audio (default 1.0)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--engines",
        default=None,
        help="comma-separated engines to use (default: all installed of espeak,flite,festival)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="parallel synthesis jobs (default 2)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_run)

    speak = sub.add_parser(
        "speak",
        help="speak a corpus's transcripts in their languages (espeak-ng)",
        description=(
            "Synthesise each transcript of a corpus in its own language with espeak-ng "
            "(several voice variants, augmented), for languages with little recorded "
            "speech; writes OUT/spoken.jsonl.gz to add to the training data. Languages "
            "espeak-ng does not speak are skipped and named. Re-running reuses the audio."
        ),
    )
    speak.add_argument("manifest", help="manifest or corpus whose transcripts to speak")
    speak.add_argument("--out", required=True, help="output directory")
    speak.add_argument(
        "--copies", type=positive_int, default=1, help="voices per transcript (default 1)"
    )
    speak.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    speak.add_argument(
        "--workers", type=positive_int, default=2, help="parallel synthesis jobs (default 2)"
    )
    speak.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    speak.set_defaults(func=_speak)


def _run(args: argparse.Namespace) -> int:
    from speechnas.synth.corpus import synthesize_corpus

    engines = None
    if args.engines is not None:
        engines = [e.strip() for e in args.engines.split(",") if e.strip()]
        if not engines:
            raise UserError("--engines is empty; give e.g. --engines espeak,flite,festival")
    result = synthesize_corpus(
        args.out,
        hours=args.hours,
        seed=args.seed,
        engines=engines,
        workers=args.workers,
        progress=not args.no_progress,
    )
    state = " (cached)" if result.cached else ""
    print(f"synthetic corpus{state}: {result.out_dir}")
    print(f"  engines: {', '.join(result.engines)}")
    if result.skipped_engines:
        print(f"  engines skipped (not installed): {', '.join(result.skipped_engines)}")
    if result.skipped_voices:
        print(f"  voices skipped: {', '.join(result.skipped_voices)}")
    if result.failed_utterances:
        print(f"  utterances dropped after TTS failures: {result.failed_utterances}")
    for name in ("train", "dev", "test", "all"):
        stats = result.splits[name]
        print(
            f"  {name:5s} {stats.utterances:6d} utterances {stats.hours:7.3f} h "
            f"{len(stats.speakers):3d} voices  {result.manifests[name]}"
        )
    return 0


def _speak(args: argparse.Namespace) -> int:
    from speechnas.data.readers import read_corpus
    from speechnas.synth.spoken import speak_transcripts

    result = speak_transcripts(
        read_corpus(args.manifest).utterances,
        args.out,
        copies=args.copies,
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
    )
    hours = sum(u.duration for u in result.utterances) / 3600.0
    languages = sorted({u.language for u in result.utterances})
    print(f"{result.manifest}: {len(result.utterances):,} utterances, {hours:.3f} h")
    print(f"  languages spoken: {', '.join(languages)}")
    if result.skipped_languages:
        print(f"  not spoken (no espeak-ng voice): {', '.join(result.skipped_languages)}")
    if result.failed:
        print(f"  utterances dropped after TTS failures: {result.failed}")
    return 0
