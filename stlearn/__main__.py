"""``python -m stlearn`` / ``stlearn``: the command line of the course.

Sub-commands register themselves in :data:`COMMANDS` (name -> (help, add_arguments, run)).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from . import __version__

AddArgs = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, AddArgs, Run]] = {}


def _info(args: argparse.Namespace) -> int:
    import torch

    print(f"stlearn {__version__}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    return 0


COMMANDS["info"] = ("print versions and the compute device", lambda p: None, _info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stlearn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"stlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
