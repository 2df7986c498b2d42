"""``speechnas search | results | report``: run a search, list its results, write its report.

``search`` takes a YAML :class:`~speechnas.search.config.SearchConfig`; ``results`` and
``report`` take the same ``--config`` or a run folder (``--run runs/NAME``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from speechnas.cli._logging import quiet_optuna
from speechnas.cli._overrides import merge, parse_overrides
from speechnas.cli._types import positive_float, positive_int
from speechnas.errors import ConfigError
from speechnas.search.choices import describe_choices

__all__ = ["register"]


def _config(args: argparse.Namespace) -> Any:
    from speechnas._config_io import read_yaml
    from speechnas.search.config import load_run_config, search_config_from_dict

    quiet_optuna(args)
    overrides = parse_overrides(getattr(args, "set", []))
    if args.storage:
        overrides["storage"] = args.storage
    overrides.update(_parallel(args))
    if getattr(args, "config", None):
        data = merge(read_yaml(args.config), overrides)
        return search_config_from_dict(data, where=args.config)
    if getattr(args, "run", None):
        config = load_run_config(args.run)
        return replace(config, **overrides) if overrides else config
    raise ConfigError("give --config SEARCH.yaml or --run RUN_DIR")


def _parallel(args: argparse.Namespace) -> dict[str, Any]:
    """The ``parallel`` keys ``--executor``, ``--workers`` and ``--ray`` set."""
    out: dict[str, Any] = {}
    if getattr(args, "executor", None):
        out["parallel.executor"] = args.executor
    if getattr(args, "workers", None):
        out["parallel.workers"] = args.workers
    if getattr(args, "ray", None):
        out["parallel.executor"] = "ray"
        out["parallel.ray_address"] = args.ray
    return out


def _search(args: argparse.Namespace) -> int:
    from speechnas.locking import exclusive
    from speechnas.search.final import run_final
    from speechnas.search.reporting import write_report
    from speechnas.search.runner import run_search

    config = _config(args)
    # The run folder is this process's from the search to the report: another search there
    # would retrain into the same final/ folders.
    with exclusive(config.run_dir, "search"):
        summary = run_search(
            config, progress=not args.no_progress, max_new_trials=args.max_new_trials
        )
        print(summary.describe(summary.budget))
        if summary.progress < summary.budget:
            print("budget not reached yet; run the same command again to continue")
            return 0
        if config.tts is not None:
            print("a TTS search's front models are its trials' last checkpoints (no final stage)")
        elif config.final.top_k and not args.no_final:
            for r in run_final(summary.front, config):
                scores = "  ".join(
                    f"{k} WER {100 * v['wer']:.1f}%" for k, v in r["scores"].items()
                )
                print(f"final: trial {r['trial']} {r['summary']}: {scores}")
        path = write_report(config)
    print(f"database: {config.storage_url}")
    print(f"report: {path}")
    return 0


def _percent(metrics: dict[str, float], name: str) -> str:
    return f"{100 * metrics[name]:.1f}" if name in metrics else "-"


def _results(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from speechnas.search.objectives import dev_languages
    from speechnas.search.runner import open_store, summarise
    from speechnas.search.select import select_for_target

    config = _config(args)
    records = open_store(config, for_search=False).records()
    summary = summarise(records, config.objectives)
    front = {r.number for r in summary.front}
    shown = [r for r in records if not args.front or r.number in front]
    languages = dev_languages(r.metrics for r in shown)
    table = Table(title=f"{config.name}: {len(records)} trials")
    by_language = ["mean CER %", "worst CER %", *(f"CER % {x}" for x in languages)]
    tts = config.tts is not None
    for col in (
        "trial",
        "state",
        "rung",
        "architecture",
        *(("MCD dB", "intelligibility CER %") if tts else ("WER %",)),
        *(by_language if languages else []),
        "latency ms",
        "params",
        "front",
    ):
        table.add_column(col)
    names = ["mean_cer", "worst_cer", *(f"cer_{x}" for x in languages)] if languages else []
    for r in shown:
        table.add_row(
            str(r.number),
            r.state.lower() + (f" ({r.reason})" if r.reason else ""),
            str(r.rung) if r.rung >= 0 else "-",
            r.spec.summary() if r.spec else "",
            *(
                (
                    f"{r.metrics['mcd_db']:.2f}" if "mcd_db" in r.metrics else "-",
                    _percent(r.metrics, "intelligibility_cer"),
                )
                if tts
                else (_percent(r.metrics, "wer"),)
            ),
            *(_percent(r.metrics, n) for n in names),
            f"{r.metrics['latency_ms']:.1f}" if "latency_ms" in r.metrics else "-",
            f"{int(r.metrics['params']):,}" if "params" in r.metrics else "-",
            "*" if r.number in front else "",
        )
    Console().print(table)
    print(summary.describe(config.n_trials))
    if args.max_latency_ms is not None or args.max_params is not None:
        metric = "wer" if config.tts is None else "mcd_db"
        pick = select_for_target(records, args.max_latency_ms, args.max_params, metric=metric)
        if pick is None:
            print("no complete trial fits that budget")
            return 1
        assert pick.spec is not None
        print(f"selected trial {pick.number}: {pick.spec.summary()}")
        print(json.dumps(pick.spec.to_dict(), sort_keys=True))
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from speechnas.search.reporting import write_report

    config = _config(args)
    path = write_report(config, Path(args.out) if args.out else None)
    print(f"report: {path}")
    return 0


def _storage(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        metavar="URL",
        help="results database, any SQLAlchemy URL (default sqlite:///RUN/study.db), "
        "e.g. postgresql+psycopg://user@host/db",
    )


def _source(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", help="the search's YAML config")
    group.add_argument("--run", help="the search's run folder (runs/NAME)")
    _storage(p)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "search",
        help="search architectures (resumable: rerun to continue)",
        epilog=describe_choices(),
    )
    p.add_argument("--config", required=True, help="YAML file with SearchConfig keys")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key; dots reach into sections (fidelity.pruner=none)",
    )
    p.add_argument(
        "--max-new-trials", type=positive_int, help="stop after this many trials in this call"
    )
    _storage(p)
    p.add_argument(
        "--executor",
        choices=("local", "processes", "ray"),
        help="where trials run: local (one at a time, here; the default), processes "
        "(worker processes on this machine) or ray (a Ray cluster)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="trials at once (processes: default cores / train.threads; ray: what the "
        "cluster holds)",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run trials on this Ray cluster: auto, or the head's HOST:PORT (implies "
        "--executor ray; --executor ray alone starts Ray on this machine)",
    )
    p.add_argument("--no-final", action="store_true", help="skip the final retraining")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.set_defaults(func=_search)

    p = sub.add_parser("results", help="list a search's trials and its Pareto front")
    _source(p)
    p.add_argument("--front", action="store_true", help="only the Pareto front")
    p.add_argument("--max-latency-ms", type=positive_float, help="select for this latency")
    p.add_argument("--max-params", type=positive_float, help="select for this size")
    p.set_defaults(func=_results)

    p = sub.add_parser("report", help="write a search's HTML report with plots")
    _source(p)
    p.add_argument("--out", help="output folder (default RUN/report)")
    p.set_defaults(func=_report)
