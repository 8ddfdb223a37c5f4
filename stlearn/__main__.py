"""``python -m stlearn`` / ``stlearn``: the command line of the course.

Sub-commands register themselves in :data:`COMMANDS` (name -> (help, add_arguments, run)).

One error boundary (:func:`main`): every :class:`~stlearn.errors.StlearnError` — a bad configuration,
checkpoint or data file, a run another process holds — is printed as one line naming the file, key
and what was expected, with exit status 2 and no traceback; any other exception is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from . import __version__
from .errors import StlearnError, one_line

AddArgs = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, AddArgs, Run]] = {}


def _info(args: argparse.Namespace) -> int:
    import torch

    print(f"stlearn {__version__}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    return 0


COMMANDS["info"] = ("print versions and the compute device", lambda p: None, _info)


def positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1 (``--sequences 0`` is refused with a one-line usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1 or more), got {value}")
    return value


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="a training configuration, e.g. configs/moving_digits/predrnn.toml")
    p.add_argument("--out", help="checkpoint path (default: runs/<data set>/<model>.pt)")
    p.add_argument("--iterations", type=int,
                   help="override the configuration's iterations (with --resume: see --extend)")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="override the batch size")
    p.add_argument("--lr", type=float, help="override the learning rate")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--device", help="cpu or cuda (default: the configuration's)")
    p.add_argument("--amp", action="store_true", default=None, help="bf16 autocast (CUDA, or a CPU with native bf16)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (with --resume: the run's own; see --inexact)")
    p.add_argument("--time-budget", type=float, dest="time_budget",
                   help="seconds for the whole run: its length is planned to fit, schedules included")
    p.add_argument("--capture", choices=("none", "cudagraph"), help="cudagraph: the whole step as one CUDA graph")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the step (minutes to compile, then faster; for long runs)")
    p.add_argument("--pace", metavar="DIR",
                   help="with --time-budget: runs sharing DIR all train the shortest length any of them fits")
    p.add_argument("--resume", action="store_true",
                   help="continue the checkpoint at --out, bit for bit (same configuration and --threads)")
    p.add_argument("--extend", action="store_true",
                   help="with --resume: accept a new --iterations that changes the schedule (lr decay or schedules "
                        "given as fractions are spread over the new length from here on: not the run you would get "
                        "training that long from the start); without it such a resume is refused")
    p.add_argument("--inexact", action="store_true",
                   help="with --resume: accept another CPU thread count than the run was trained with (it then "
                        "does not continue bit for bit); without it refused")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")


def _train(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from .training import load_config, train

    keys = ("iterations", "batch_size", "lr", "seed", "device", "amp", "threads", "time_budget", "capture", "compile")
    if (args.extend or args.inexact) and not args.resume:
        raise StlearnError("--extend and --inexact only apply with --resume")
    overrides = {k: getattr(args, k) for k in keys}
    config = load_config(args.config, **overrides)
    out = Path(args.out) if args.out else Path("runs") / config.dataset / f"{config.model}.pt"
    result = train(config, out, resume=args.resume, progress=not args.no_progress, pace=args.pace,
                   extend=args.extend, inexact=args.inexact)  # fmt: skip
    last = result.history[-1] if result.history else {}
    if os.environ.get("RANK", "0") != "0":  # data-parallel ranks other than 0 keep no history
        return 130 if result.interrupted else 0
    print(
        f"checkpoint: {result.checkpoint}  iterations: {last.get('iteration', 0)}  "
        f"val MSE per frame: {last.get('val_mse_per_frame', float('nan')):.2f}  "
        f"training time: {last.get('seconds', 0):.0f} s" + ("  (interrupted)" if result.interrupted else "")
    )
    return 130 if result.interrupted else 0


COMMANDS["train"] = ("train a model from a configuration file (lesson 4)", _train_args, _train)


def _pools_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("configs", nargs="+", help="training configurations whose pools to make, e.g. configs/radar/*.toml")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")


def _pools(args: argparse.Namespace) -> int:
    from .training import load_config
    from .training.batches import prepare_pool

    cache = os.environ.get("STLEARN_CACHE")
    if not cache:
        print("stlearn make-pools: set STLEARN_CACHE to the folder the training runs will read, e.g. runs/cache",
              file=sys.stderr)  # fmt: skip
        return 2
    done: set[str] = set()
    for path in args.configs:
        config = load_config(path)
        key = repr((config.dataset, sorted(config.data_config.items())))
        if key not in done:
            done.add(key)
            print(f"{config.dataset}: {prepare_pool(config.dataset, config.data_config, cache, args.workers)}")
    return 0


def _runs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="a folder of training runs, e.g. runs/gpu")
    p.add_argument("--json", help="also write the rows to this JSON file")


def _runs(args: argparse.Namespace) -> int:
    from .training.report import main as runs_main

    return runs_main(args.root, args.json)


COMMANDS["runs"] = ("a table of training runs: iterations, speed, share of time training", _runs_args, _runs)


COMMANDS["make-pools"] = ("make the training pools of configurations in $STLEARN_CACHE", _pools_args, _pools)


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="an stlearn checkpoint, e.g. data/checkpoints/radar/predrnn.pt")
    p.add_argument("--split", default="test", help="test (stored) or val/train (generated)")
    p.add_argument("--sequences", type=positive_int, help="evaluate only the first N sequences (N ≥ 1)")
    p.add_argument("--batch-size", type=positive_int, default=16, dest="batch_size", help="sequences per batch (≥ 1)")
    p.add_argument("--out", help="also write the full result (means, intervals, per lead time) as JSON")


def _evaluate(args: argparse.Namespace) -> int:
    from .training.evaluate import main_evaluate

    return main_evaluate(args)


COMMANDS["evaluate"] = (
    "score a checkpoint on a split: MSE/MAE per frame, SSIM, PSNR, CSI/POD/FAR",
    _evaluate_args,
    _evaluate,
)


def _table8_args(p: argparse.ArgumentParser) -> None:
    from .table8 import add_arguments

    add_arguments(p)


def _table8(args: argparse.Namespace) -> int:
    from .table8 import main

    return main(args)


COMMANDS["table8"] = (
    "reproduce the seed's Table 8 on the radar test split, with persistence and optical flow (lesson 9)",
    _table8_args,
    _table8,
)


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .training.export import export_all

    export_all(Path(args.runs), only=args.only or None, skip_exported=args.new_only, with_state=args.with_state)
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", default="runs", help="folder of the training runs")
    p.add_argument("--only", nargs="*", help="runs to export, as DATASET/MODEL (default: all finished ones)")
    p.add_argument("--new-only", action="store_true", help="skip runs whose shipped copy is up to date")
    p.add_argument("--with-state", action="store_true",
                   help="also ship each run's whole training state in data/checkpoints/state (to continue it)")


COMMANDS["export-pretrained"] = (
    "evaluate finished runs and ship them into data/checkpoints with RESULTS.md",
    _export_args,
    _export,
)


def _make_student_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source-dir", dest="source_dir", help="source notebooks (default: stlearn/exercises/source)")
    p.add_argument("--out-dir", dest="out_dir", help="where to write (default: notebooks/student)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the student notebooks drifted")


def _make_student(args: argparse.Namespace) -> int:
    from .exercises.student import make_student

    paths = make_student(args.source_dir, args.out_dir, check=args.check)
    if args.check:
        for path in paths:
            print(f"out of date: {path} (run `stlearn make-student`)")
        return 1 if paths else 0
    for path in paths:
        print(f"wrote {path}")
    return 0


COMMANDS["make-student"] = (
    "generate the student exercise notebooks (notebooks/student) from the sources",
    _make_student_args,
    _make_student,
)


def _grade_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("submissions", nargs="+", help="submitted notebooks (named like their source, e.g. ex03_*.ipynb)")
    p.add_argument("--source-dir", dest="source_dir", help="source notebooks (default: stlearn/exercises/source)")
    p.add_argument("--csv", help="write one row per (submission, exercise) to this CSV file")
    p.add_argument("--json", help="write the full results to this JSON file")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise, its cell and check (default 60)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="submissions graded at once")
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="grade WITHOUT a sandbox where bubblewrap cannot run (the code runs with your rights; trusted work only)",
    )


def _grade(args: argparse.Namespace) -> int:
    from .exercises.grade import main_grade

    return main_grade(args)


COMMANDS["grade"] = (
    "grade exercise submissions with the source notebooks' check cells; a score table, CSV and JSON",
    _grade_args,
    _grade,
)


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebooks", nargs="+", help="your notebooks, e.g. notebooks/student/ex03_convlstm_gates.ipynb")


def _check(args: argparse.Namespace) -> int:
    from .exercises.selfcheck import main_check

    return main_check(args)


COMMANDS["check"] = (
    "check your own exercise notebook: runs it under nbval, one line per exercise with its feedback",
    _check_args,
    _check,
)


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
    try:
        return COMMANDS[args.command][2](args)
    except StlearnError as e:  # the one error boundary: one line, exit 2, no traceback
        print(f"stlearn {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
