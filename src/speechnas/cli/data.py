"""``speechnas data``: prepare, stats, split, validate and synth."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from speechnas.cli import data_synth
from speechnas.cli._types import fraction, positive_float, positive_int
from speechnas.data.manifest import Utterance, write_manifest
from speechnas.data.readers import FORMATS, read_corpus
from speechnas.data.usable import MAX_UTTERANCE_SECONDS
from speechnas.data.validate import ProgressFn

__all__ = ["register"]

_EXIT_OK = 0
_EXIT_BAD_DATA = 2

# Problems whose detail is short and ours (not a decoder's message): always printed.
_DETAILED_REASONS = frozenset({"bad duration", "too long"})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("data", help="prepare, inspect, split, validate or synthesise data")
    group = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    _register_prepare(group)
    _register_stats(group)
    _register_split(group)
    _register_validate(group)
    data_synth.register(group)


def _add_format(p: argparse.ArgumentParser) -> None:
    # No argparse `choices`: an unknown format becomes a UserError naming the path.
    p.add_argument(
        "--format", default="auto", metavar="FORMAT", help=f"one of {', '.join(FORMATS)}"
    )


def _register_prepare(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = group.add_parser("prepare", help="convert a corpus into a canonical manifest")
    p.add_argument("src", type=Path, help="corpus folder, NeMo manifest or Common Voice tsv")
    p.add_argument("--out", type=Path, required=True, help="manifest to write (.jsonl.gz)")
    _add_format(p)
    p.add_argument("--language", default=None, help="language where the corpus has none (en)")
    p.add_argument(
        "--languages",
        type=_codes,
        default=None,
        metavar="CODES",
        help="keep only these languages, comma-separated (de,fr,...)",
    )
    p.add_argument("--workers", type=positive_int, default=2, help="decoding threads (default 2)")
    p.set_defaults(func=_prepare)


def _codes(text: str) -> list[str]:
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise argparse.ArgumentTypeError("expected language codes such as de,fr")
    return codes


def _register_stats(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = group.add_parser("stats", help="hours, speakers, languages and durations of a corpus")
    p.add_argument("manifest", type=Path, help="manifest or any corpus a reader detects")
    _add_format(p)
    p.set_defaults(func=_stats)


def _register_split(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = group.add_parser("split", help="split a manifest into train and dev")
    p.add_argument("manifest", type=Path, help="manifest or any corpus a reader detects")
    p.add_argument("--by", choices=["speaker"], default="speaker", help="keep these disjoint")
    p.add_argument("--dev-fraction", type=fraction, default=0.1, help="share of utterances in dev")
    p.add_argument("--seed", type=int, default=0, help="seed of the speaker shuffle")
    p.add_argument("--out-dir", type=Path, required=True, help="where train/dev.jsonl.gz go")
    _add_format(p)
    p.set_defaults(func=_split)


def _register_validate(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = group.add_parser(
        "validate", help="decode every audio file and check transcripts; exit 2 on problems"
    )
    p.add_argument("src", type=Path, help="manifest, corpus folder, folder of audio, or a file")
    _add_format(p)
    p.add_argument("--language", default=None, help="language where the corpus has none (en)")
    p.add_argument("--workers", type=positive_int, default=2, help="decoding threads (default 2)")
    p.add_argument(
        "--max-seconds",
        type=positive_float,
        default=MAX_UTTERANCE_SECONDS,
        help="report longer audio as too long, as training skips it "
        f"(default {MAX_UTTERANCE_SECONDS:g}, training's max_utterance_seconds)",
    )
    p.set_defaults(func=_validate)


def _prepare(args: argparse.Namespace) -> int:
    from speechnas.data.prepare import prepare

    utts = prepare(
        args.src,
        args.out,
        format=args.format,
        language=args.language,
        languages=args.languages,
        workers=args.workers,
    )
    hours = sum(u.duration for u in utts) / 3600.0
    print(f"{args.out}: {len(utts):,} utterances, {hours:.3f} h")
    return _EXIT_OK


def _stats(args: argparse.Namespace) -> int:
    from speechnas.data.stats import bin_label, compute_stats, histogram_bar, summary_rows

    stats = compute_stats(read_corpus(args.manifest, format=args.format).utterances)
    console = Console(highlight=False)
    console.print(str(args.manifest), markup=False, soft_wrap=True)
    summary = Table(show_header=False)
    summary.add_column("field")
    summary.add_column("value", overflow="fold")
    for name, value in summary_rows(stats):
        summary.add_row(name, value)
    console.print(summary)
    if len(stats.per_language) > 1:
        languages = Table(title="per language")
        for name in ("language", "utterances", "speakers", "hours"):
            languages.add_column(name, justify="left" if name == "language" else "right")
        for language, x in stats.per_language.items():
            languages.add_row(language, f"{x.utterances:,}", f"{x.speakers:,}", f"{x.hours:.3f}")
        console.print(languages)
    histogram = Table(title="duration histogram")
    histogram.add_column("duration", justify="right")
    histogram.add_column("utterances", justify="right")
    histogram.add_column("")
    largest = max(n for _, _, n in stats.histogram)
    for low, high, n in stats.histogram:
        histogram.add_row(bin_label(low, high), f"{n:,}", histogram_bar(n, largest, 30))
    console.print(histogram)
    return _EXIT_OK


def _describe(name: str, utts: list[Utterance]) -> str:
    hours = sum(u.duration for u in utts) / 3600.0
    speakers = len({u.speaker for u in utts})
    return f"{name}: {len(utts):,} utterances, {speakers:,} speakers, {hours:.3f} h"


def _split(args: argparse.Namespace) -> int:
    from speechnas.data.split import split_by_speaker

    utts = read_corpus(args.manifest, format=args.format).utterances
    train, dev = split_by_speaker(utts, dev_fraction=args.dev_fraction, seed=args.seed)
    train_path = write_manifest(train, args.out_dir / "train.jsonl.gz")
    dev_path = write_manifest(dev, args.out_dir / "dev.jsonl.gz")
    overlap = {u.speaker for u in train} & {u.speaker for u in dev}
    share = len(dev) / len(utts) if utts else 0.0
    print(f"{_describe('train', train)} -> {train_path}")
    print(f"{_describe('dev', dev)} -> {dev_path}")
    print(f"dev share: {share:.1%} of utterances (asked {args.dev_fraction:.1%})")
    print(f"speaker overlap: {len(overlap)}")
    languages = sorted({u.language for u in utts})
    if len(languages) > 1:
        in_dev = {u.language for u in dev}
        missing = [x for x in languages if x not in in_dev]
        print(
            f"languages: {len(languages)}, split within each; in dev: {len(in_dev)}"
            + (f" (none of {', '.join(missing)})" if missing else "")
        )
    return _EXIT_OK


@contextmanager
def _progress_bar(description: str) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr (drawn only on a terminal), as a ``progress`` callback."""
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    quiet = not console.is_terminal
    with Progress(*columns, console=console, transient=True, disable=quiet) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _validate(args: argparse.Namespace) -> int:
    from speechnas.data.validate import validate_source

    with _progress_bar("decoding") as progress:
        report = validate_source(
            args.src,
            format=args.format,
            language=args.language,
            workers=args.workers,
            max_seconds=args.max_seconds,
            progress=progress,
        )
    verbose = getattr(args, "verbose", False)
    for problem in report.problems:
        shown = verbose or problem.reason in _DETAILED_REASONS
        detail = f" ({problem.detail})" if shown and problem.detail else ""
        print(f"{problem.path}: {problem.reason}{detail}")
    if report.ok:
        print(f"checked {report.num_checked:,} file(s): no problems")
        return _EXIT_OK
    bad = len({p.utt_id for p in report.problems})
    print(f"checked {report.num_checked:,} file(s): {bad:,} with problems")
    print("problems by reason:")
    width = max(len(reason) for reason in report.counts())
    for reason, count in report.counts().items():
        print(f"  {reason:<{width}}  {count:,}")
    return _EXIT_BAD_DATA
