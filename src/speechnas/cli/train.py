"""``speechnas train``: train one architecture from a YAML config."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechnas.cli._overrides import parse_overrides

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from speechnas.train import load_train_config, train

    config = load_train_config(args.config, parse_overrides(args.set))
    resume = args.resume
    if resume == "auto":
        last = Path(config.out_dir) / "last.pt"
        resume = last if last.exists() else None
    result = train(config, resume=resume, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"trained {result.steps} steps, {result.epochs} epochs in {result.train_seconds:.0f} s")
    if result.stopped_by_budget:
        print("stopped by the time/step budget before max_epochs")
    print(f"parameters: {result.num_params:,}")
    if result.last_dev:
        print(f"dev WER {result.last_dev['wer']:.3f}  CER {result.last_dev['cer']:.3f}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} utterance(s):")
        for utt_id, reason in sorted(result.skipped.items()):
            print(f"  {utt_id}: {reason}")
    else:
        print("skipped 0 utterances")
    print(f"checkpoints: {result.last_checkpoint} (last), {result.best_checkpoint} (best)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train one architecture from a YAML config")
    p.add_argument("--config", required=True, help="YAML file with TrainConfig keys")
    p.add_argument(
        "--resume",
        metavar="CHECKPOINT|auto",
        help="continue from a checkpoint; 'auto' uses OUT_DIR/last.pt when it exists",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="start afresh in an out_dir holding a run"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
