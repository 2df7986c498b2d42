"""``speechnas evaluate``: score a checkpoint on one or more test sets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from speechnas.cli._types import positive_int
from speechnas.errors import UserError

__all__ = ["register"]


def test_sets(items: list[str]) -> dict[str, Path]:
    sets: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).name.split(".")[0], item
        if name in sets:
            raise UserError(f"--test: the name {name!r} is given twice")
        sets[name] = Path(path)
    return sets


def _run(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    from speechnas._provenance import run_info
    from speechnas.data.manifest import read_manifest
    from speechnas.evaluate.runner import evaluate_model
    from speechnas.evaluate.wer import NothingToScore
    from speechnas.train import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    sets = test_sets(args.test)
    model, tokenizer, state = load_model(args.checkpoint)
    results = {}
    for name, path in sets.items():
        utts = read_manifest(path)
        try:
            result = evaluate_model(
                model, tokenizer, utts, name=name, rtf_utterances=args.rtf_utterances
            )
        except NothingToScore as e:  # no score is written for any set: fix this one first
            raise NothingToScore(f"test set {name} ({path})", e.why) from e
        results[name] = result.to_dict()
    table = Table(title=f"{args.checkpoint}")
    for col in ("test set", "utts", "hours", "WER", "CER", "RTF", "skipped"):
        table.add_column(col, justify="left" if col == "test set" else "right")
    for name, r in results.items():
        rtf = "-" if r["rtf"] is None else f"{r['rtf']:.4f}"
        table.add_row(
            name,
            str(r["utterances"]),
            f"{r['hours']:.2f}",
            f"{100 * r['wer']:.1f}%",
            f"{100 * r['cer']:.1f}%",
            rtf,
            str(len(r["skipped"])),
        )
        if len(r["languages"]) > 1:  # a set of several languages: each one's own scores
            for language, x in r["languages"].items():
                table.add_row(
                    f"  {language}",
                    str(x["utterances"]),
                    "",
                    f"{100 * x['wer']:.1f}%",
                    f"{100 * x['cer']:.1f}%",
                    "",
                    "",
                )
    Console().print(table)
    payload = {
        "checkpoint": str(args.checkpoint),
        "arch": state["arch"],
        "params": model.num_params(),
        "step": state.get("step"),
        "normalisation": "speechnas.text.normalize: NFKC, lower case, punctuation removed; "
        "each utterance by its own language's rules",
        "rtf_definition": "compute seconds / audio seconds, batch 1, greedy decoding, CPU",
        "sets": results,
        "run_info": run_info(),
    }
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2, sort_keys=True))
        print(f"results: {out}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint on test sets (WER, CER, RTF)")
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by train")
    p.add_argument(
        "--test",
        action="append",
        required=True,
        metavar="[NAME=]MANIFEST",
        help="a test set; repeat for several",
    )
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--rtf-utterances", type=int, default=50, help="utterances timed for RTF")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.set_defaults(func=_run)
