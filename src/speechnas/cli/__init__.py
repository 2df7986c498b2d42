"""The ``speechnas`` command line: thin commands over library functions.

Every command returns an exit code: 0 for success, 2 for a user error (bad path, bad config,
bad data) or a problem of the machine the user can fix (a folder without write permission, a
read-only or full disk), 1 for an unexpected failure. :func:`main` takes ``argv`` so tests call
it in-process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from speechnas._version import __version__
from speechnas.errors import UserError, is_environment_error

__all__ = ["main", "run"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep that, but print our prefix."""


def build_parser() -> argparse.ArgumentParser:
    # Imported here so that `speechnas --version` does not import torch.
    from speechnas.cli import (
        data,
        demo,
        evaluate,
        export,
        monitor,
        profile,
        search,
        space,
        train,
        tts,
    )

    parser = _Parser(
        prog="speechnas",
        description="Search speech model architectures for a target device.",
    )
    parser.add_argument("--version", action="version", version=f"speechnas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (data, train, evaluate, search, profile, export, monitor, demo, space, tts):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR if args.command is None else EXIT_OK
    try:
        return int(args.func(args))
    except UserError as e:
        print(f"speechnas: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:
        # Work already finished is on disk: checkpoints and results are written atomically.
        if not is_environment_error(e):
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"speechnas: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("speechnas: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
