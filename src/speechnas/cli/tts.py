"""``speechnas tts``: prepare a TTS corpus (aligner, durations, prosody) and train, score and
export an acoustic model on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from speechnas.cli._types import non_negative_int, positive_float, positive_int

if TYPE_CHECKING:
    from speechnas.arch.tts import TTSSpec

__all__ = ["register"]


def _prepare(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from speechnas.data.manifest import read_manifest
    from speechnas.errors import UserError
    from speechnas.train import load_model
    from speechnas.tts import TTS_FRONTEND, align_corpus
    from speechnas.tts.aligner import train_aligner

    utterances = read_manifest(args.manifest)
    aligner_path = args.aligner
    if aligner_path is None:
        folder = Path(args.out).with_suffix(".aligner")
        print(f"training the aligner ({args.aligner_steps} steps) in {folder}")
        aligner_path = train_aligner(
            args.manifest, folder, steps=args.aligner_steps, seed=args.seed, progress=True
        )
    aligner, tokenizer, _ = load_model(aligner_path)
    with Progress(transient=True) as bar:
        task = bar.add_task("aligning", total=len(utterances))
        corpus = align_corpus(
            utterances, aligner, tokenizer, on_progress=lambda n: bar.update(task, completed=n)
        )
    if not corpus.utterances:
        reasons = "; ".join(f"{i}: {r}" for i, r in corpus.skipped[:3])
        raise UserError(f"{args.manifest}: no utterance could be prepared ({reasons})")
    corpus.save(args.out)
    frames = sum(u.mel.shape[0] for u in corpus.utterances)
    hours = frames * TTS_FRONTEND["hop_length"] / TTS_FRONTEND["sample_rate"] / 3600
    print(f"{args.out}: {len(corpus)} utterances, {hours:.2f} h, {len(corpus.skipped)} skipped")
    for utt_id, reason in corpus.skipped[:10]:
        print(f"  skipped {utt_id}: {reason}")
    return 0


def _spec(args: argparse.Namespace) -> TTSSpec:
    """The spec of ``--spec`` or ``--preset``, checked against what a TTS corpus holds."""
    from speechnas.arch.tts import TTSSpec
    from speechnas.errors import UserError
    from speechnas.presets import tts_preset
    from speechnas.tts import TTS_FRONTEND

    if args.spec is None:
        try:
            return tts_preset(args.preset or "lightspeech")
        except ValueError as e:
            raise UserError(str(e)) from e
    try:
        spec = TTSSpec.from_dict(json.loads(Path(args.spec).read_text()))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UserError(f"{args.spec}: not a TTS spec: {e}") from e
    if spec.n_mels != TTS_FRONTEND["n_mels"]:
        raise UserError(
            f"{args.spec}: n_mels={spec.n_mels}; a TTS corpus has {TTS_FRONTEND['n_mels']} bands"
        )
    if spec.text_units != "char":
        raise UserError(
            f"{args.spec}: text_units={spec.text_units!r}; a TTS corpus holds characters "
            '(set "text_units": "char")'
        )
    return spec


def _train(args: argparse.Namespace) -> int:
    from speechnas.errors import UserError
    from speechnas.export.tts import export_tts
    from speechnas.train.checkpoint import save_checkpoint
    from speechnas.tts import TTSCorpus, variance_stats
    from speechnas.tts.listen import write_listening_page
    from speechnas.tts.score import score_tts, synthesise
    from speechnas.tts.train import TTSTrainSettings, train_tts

    spec = _spec(args)
    corpus = TTSCorpus.load(args.corpus)
    if args.held_out >= len(corpus):
        raise UserError(
            f"--held-out {args.held_out} leaves no training utterance ({args.corpus} has "
            f"{len(corpus)})"
        )
    train, held_out = corpus.split(args.held_out, seed=args.seed)
    try:
        settings = TTSTrainSettings(
            steps=args.steps, batch_frames=args.batch_frames, lr=args.lr, seed=args.seed
        )
    except ValueError as e:
        raise UserError(str(e)) from e
    out = Path(args.out)
    print(f"training {spec.summary()} on {len(train)} utterances for {args.steps} steps")
    result = train_tts(
        spec,
        train,
        vocab_size=corpus.tokenizer.vocab_size,
        stats=variance_stats(train),
        settings=settings,
        on_step=lambda step, row: print(
            f"step {step}: " + " ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "step")
        ),
        log_every=max(1, args.steps // 20),
    )
    save_checkpoint(out / "model.pt", result.state(corpus.tokenizer.to_state()))
    scores = score_tts(
        result.model, result.norm, held_out, intelligibility_count=args.intelligibility
    )
    (out / "scores.json").write_text(json.dumps(scores.to_dict(), indent=1))
    line = f"held out ({scores.sentences}): MCD {scores.mcd_db:.2f} dB, mel L1 {scores.mel_l1:.3f}"
    if scores.cer is not None:
        line += f", intelligibility CER {100 * scores.cer:.1f}% (vocoder floor "
        line += f"{100 * (scores.floor_cer or 0):.1f}%)"
    print(line)
    if not args.no_export:
        sentence = max(held_out, key=lambda u: len(u.tokens))
        report = export_tts(
            result.model,
            result.norm.mean,
            result.norm.std,
            out / "export",
            check_tokens=sentence.tokens,
        )
        for v in report.variants:
            print(f"{v.name}: {v.size_mb:.1f} MB, {v.latency_ms:.1f} ms")
    page = write_listening_page(
        out / "listen",
        held_out[:5],
        {spec.summary(): lambda tokens: synthesise(result.model, result.norm, tokens).numpy()},
    )
    print(f"model: {out / 'model.pt'}; listen: {page}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("tts", help="prepare a TTS corpus, train and score a TTS model")
    group = parser.add_subparsers(dest="tts_command", metavar="TTS_COMMAND")
    p = group.add_parser(
        "prepare",
        help="align a manifest's recordings and write a TTS corpus",
        description=(
            "Mels, token durations from CTC forced alignment (an aligner trained on the same "
            "recordings unless --aligner is given) and per-token pitch and energy."
        ),
    )
    p.add_argument("manifest", help="canonical manifest of one voice (speechnas data prepare)")
    p.add_argument("--out", required=True, help="corpus file to write (.pt)")
    p.add_argument("--aligner", help="a CTC checkpoint over characters to align with")
    p.add_argument("--aligner-steps", type=positive_int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_prepare)
    t = group.add_parser(
        "train",
        help="train a TTS model on a prepared corpus, score, export and write a listening page",
    )
    t.add_argument("corpus", help="a corpus written by `speechnas tts prepare`")
    t.add_argument("--out", required=True, help="output folder")
    which = t.add_mutually_exclusive_group()
    which.add_argument("--preset", help="fastspeech2 or lightspeech (default lightspeech)")
    which.add_argument("--spec", help="a TTS spec as JSON (text_units char, n_mels 80)")
    t.add_argument("--steps", type=positive_int, default=3000)
    t.add_argument("--batch-frames", type=positive_int, default=6000)
    t.add_argument("--lr", type=positive_float, default=1e-3)
    t.add_argument("--held-out", type=positive_int, default=25, help="sentences scored")
    t.add_argument(
        "--intelligibility",
        type=non_negative_int,
        default=10,
        help="held-out sentences transcribed by PocketSphinx (0: none)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    t.set_defaults(func=_train)
