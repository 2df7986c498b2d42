"""The final stage: retrain the best of the front on all the training data and test them.

The front's complete trials are ranked by :func:`~speechnas.search.pareto.scalar_fitness`
(the front spread over its objectives, normalised), the best ``top_k`` are retrained on the
whole training set for ``final.epochs`` epochs (from scratch, or with ``final.from_trial``
from their trial's best weights), keeping the epoch with the best dev score by the search's
metric (``fidelity.metric``), then scored on dev and on every
configured test set, with their latency measured again on the trained model. With
``final.export`` set they are also exported (ONNX and its INT8/FP16 copies, streamed too for
a streaming architecture), each variant's size, latency and WER stored in the model's
result. Each model's result is written to ``final/<arch_id>/result.json`` as it finishes, so a
rerun skips it; the model with the lowest dev WER is copied to ``best.pt``. Searches sharing
a study run its final stage once: in the run folder of the first to get there.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from speechnas.arch.kinds import as_recogniser
from speechnas.data.manifest import read_manifest
from speechnas.errors import UserError
from speechnas.evaluate.runner import evaluate_model
from speechnas.export import ExportError, export_bundle
from speechnas.locking import exclusive
from speechnas.search.config import SearchConfig
from speechnas.search.pareto import scalar_fitness
from speechnas.search.store import SearchStore, TrialRecord
from speechnas.timing import measure_latency
from speechnas.train import load_model, train

__all__ = ["final_candidates", "run_final"]

log = logging.getLogger(__name__)


def final_candidates(
    front: list[TrialRecord], objectives: tuple[str, ...], k: int
) -> list[TrialRecord]:
    """The ``k`` front members with the best normalised objective mean (ties: the objectives
    in their order, the first first, then the trial number; two front members always tie)."""
    if not front:
        return []
    values = [tuple(r.values[o] for o in objectives) for r in front]
    fitness = scalar_fitness(values)
    order = sorted(range(len(front)), key=lambda i: (fitness[i], values[i], front[i].number))
    return [front[i] for i in order[:k]]


def _trial_weights(record: TrialRecord) -> dict[str, Any]:
    """The warm start of a ``final.from_trial`` retraining: the trial's best weights, when
    this machine has them (a trial of a shared study may have trained elsewhere)."""
    if record.checkpoint and Path(record.checkpoint).is_file():
        return {"init_checkpoint": record.checkpoint, "init_by_shape": False}
    log.warning(
        "final stage: trial %d's weights (%s) are not on this machine; it is retrained "
        "from scratch",
        record.number,
        record.checkpoint,
    )
    return {}


def _retrain(record: TrialRecord, config: SearchConfig, out: Path) -> dict[str, Any]:
    assert record.spec is not None
    warm = _trial_weights(record) if config.final.from_trial else {}
    train_config = config.train.train_config(
        train_manifest=config.manifests.train_manifest,
        dev_manifest=config.manifests.dev_manifest,
        out_dir=str(out),
        arch=record.spec,
        max_epochs=config.final.epochs,
        max_minutes=config.final.max_minutes,
        eval_every=1,
        # The checkpoint kept is chosen by the score the search ranked its trials by: near
        # the CTC plateau an empty transcript's WER (exactly 100%) beats a model that has
        # begun to spell words, while its CER shows which has learned more.
        select_metric=config.fidelity.metric,
        seed=config.seed,
        **warm,
    )
    result = train(train_config, overwrite=True, progress=False)
    model, tokenizer, _ = load_model(result.best_checkpoint)
    sets = {"dev": config.manifests.dev_manifest, **config.manifests.test_manifests}
    scores = {}
    for name, path in sets.items():
        r = evaluate_model(model, tokenizer, read_manifest(path), name=name, rtf_utterances=0)
        scores[name] = {"wer": r.wer, "cer": r.cer, "utterances": r.utterances}
    latency = measure_latency(
        model,
        audio_seconds=config.latency_seconds,
        repeats=config.latency_repeats,
        blocks=config.latency_blocks,
        threads=config.train.threads,
    )
    final = {
        "trial": record.number,
        "arch_id": record.spec.arch_id,
        "summary": record.spec.summary(),
        "search_values": record.values,
        "params": model.num_params(),
        "latency_ms": latency.median_ms,
        "epochs": result.epochs,
        "train_seconds": result.train_seconds,
        # From the trial's weights: its training counts in the model's budget.
        "from_trial_seconds": record.train_seconds if warm else 0.0,
        "checkpoint": str(result.best_checkpoint),
        "scores": scores,
    }
    return final


#: The quantisation-aware fine-tune's peak learning rate, as a share of the recipe's.
_QAT_LR = 0.1


def _export(result: dict[str, Any], record: TrialRecord, config: SearchConfig) -> dict[str, Any]:
    """Export a retrained model (its best checkpoint) in ``config.final.export``'s precisions
    and measure each variant. A model the exporter does not cover is recorded as skipped, any
    other failure as failed, with why: the retrained model's result is kept either way."""
    assert record.spec is not None
    sets = {"dev": config.manifests.dev_manifest, **config.manifests.test_manifests}
    out = Path(result["checkpoint"]).parent / "export"
    try:
        model, tokenizer, _ = load_model(result["checkpoint"])
        report = export_bundle(
            model,
            as_recogniser(record.spec),
            tokenizer,
            out,
            precisions=config.final.export,
            test_sets={name: read_manifest(path) for name, path in sets.items()},
            num_threads=config.train.threads or torch.get_num_threads(),
            latency_s=config.latency_seconds,
            repeats=config.latency_repeats,
        )
    except (UserError, ExportError) as e:
        log.warning("final stage: trial %d not exported: %s", record.number, e)
        return {"skipped": str(e)}
    except Exception as e:  # keep the retrained model's result whatever the exporter raises
        log.exception("final stage: exporting trial %d failed", record.number)
        return {"failed": f"{type(e).__name__}: {e}"}
    return {"dir": str(out), "variants": [asdict(v) for v in report.variants]}


def _int8_loss(result: dict[str, Any]) -> float:
    """How much dev WER the INT8 export loses against the PyTorch model (-inf: not known)."""
    variants = {v["name"]: v for v in result.get("export", {}).get("variants", [])}
    if "pytorch" not in variants or "onnx-int8" not in variants:
        return float("-inf")
    dev = [variants[name]["scores"].get("dev", {}).get("wer") for name in ("pytorch", "onnx-int8")]
    return float("-inf") if None in dev else float(dev[1] - dev[0])


def _quantisation_aware(
    result: dict[str, Any], record: TrialRecord, config: SearchConfig, out: Path
) -> dict[str, Any]:
    """Fine-tune a retrained model whose INT8 export loses too much with the export's rounding
    simulated (:mod:`speechnas.models.int8_sim`), then export and measure it again."""
    assert record.spec is not None
    loss = _int8_loss(result)
    log.info(
        "final stage: trial %d's INT8 export loses %.1f WER points; quantisation-aware "
        "fine-tune for %d epoch(s)",
        record.number,
        100 * loss,
        config.final.qat_epochs,
    )
    train_config = config.train.train_config(
        train_manifest=config.manifests.train_manifest,
        dev_manifest=config.manifests.dev_manifest,
        out_dir=str(out),
        arch=record.spec,
        max_epochs=config.final.qat_epochs,
        lr=config.train.lr * _QAT_LR,
        eval_every=1,
        select_metric=config.fidelity.metric,
        seed=config.seed,
        init_checkpoint=result["checkpoint"],
        init_by_shape=False,
        init_vocabulary="checkpoint",
        simulate_int8=True,
    )
    trained = train(train_config, overwrite=True, progress=False)
    tuned = {"checkpoint": str(trained.best_checkpoint)}
    return {
        "int8_loss_before": loss,
        "epochs": trained.epochs,
        "train_seconds": trained.train_seconds,
        "checkpoint": tuned["checkpoint"],
        "export": _export(tuned, record, config),
    }


def run_final(front: list[TrialRecord], config: SearchConfig) -> list[dict[str, Any]]:
    """Retrain and test the best ``config.final.top_k`` of ``front``; see the module doc.

    Raises:
        UserError: another process works in the run folder (a search, or its final stage).
    """
    with exclusive(config.run_dir, "search"):
        store = SearchStore(config.storage_url, config.name, config.objectives, config.to_dict())
        try:
            elsewhere = store.claim_final_stage(config.run_dir)
            if elsewhere is not None:
                log.warning(
                    "final stage: run by the search in %s, which shares this study; its "
                    "results are there",
                    elsewhere,
                )
                return []
            results = _run_final(front, config)
            store.final_stage_done(config.run_dir)
            return results
        finally:
            store.close()


def _run_final(front: list[TrialRecord], config: SearchConfig) -> list[dict[str, Any]]:
    results = []
    for record in final_candidates(front, config.objectives, config.final.top_k):
        assert record.spec is not None
        out = config.run_dir / "final" / record.spec.arch_id
        done = out / "result.json"
        if done.exists():
            result = json.loads(done.read_text())
        else:
            log.info("final stage: retraining trial %d (%s)", record.number, record.spec.summary())
            result = _retrain(record, config, out)
            done.write_text(json.dumps(result, indent=2, sort_keys=True))
        if config.final.export and "export" not in result:
            result["export"] = _export(result, record, config)
            done.write_text(json.dumps(result, indent=2, sort_keys=True))
        threshold = config.final.qat_threshold
        if threshold is not None and "qat" not in result and _int8_loss(result) > threshold:
            result["qat"] = _quantisation_aware(result, record, config, out / "qat")
            done.write_text(json.dumps(result, indent=2, sort_keys=True))
        results.append(result)
    if results:
        best = min(results, key=lambda r: (r["scores"]["dev"]["wer"], r["trial"]))
        shutil.copyfile(best["checkpoint"], config.run_dir / "best.pt")
        (config.run_dir / "final.json").write_text(
            json.dumps({"best": best["arch_id"], "models": results}, indent=2, sort_keys=True)
        )
    return results
