"""The ``neuroplast`` command: a thin layer from argv to spec objects and library calls.

Each module here adds its commands' parsers and holds their handlers side by side: ``train`` (run,
resume, lr-find, evaluate, summary, configs), ``stages`` (calibrate, explain, prune, export, report)
and ``use`` (predict, generate, serve). The choices and defaults of every flag that a spec section
also has come from that section (:mod:`neuroplast.spec.stages`). Bad input (a spec key, a file, a
shape) prints one line and exits with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from neuroplast.cli import stages, train, use
from neuroplast.errors import TrainingDiverged, UserError

Handler = Callable[[argparse.Namespace], int]


def parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The argument parser and each command's handler."""
    p = argparse.ArgumentParser(prog="neuroplast", description="Train, evaluate and use neural networks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Handler] = {}
    for group in (train, use, stages):
        commands.update(group.add_commands(sub))
    return p, commands


def main(argv: Sequence[str] | None = None) -> int:
    p, commands = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help()
        return 2
    try:
        code = commands[args.command](args)
    except (UserError, TrainingDiverged) as e:
        print(f"neuroplast: error: {e}", file=sys.stderr)
        code = 2
    except BrokenPipeError:  # e.g. `neuroplast configs | head -2`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # a path it cannot write or read (permissions, a file where a folder goes)
        if getattr(e, "filename", None) is None:  # not about a path: a real fault, shown whole
            raise
        print(f"neuroplast: error: cannot write or read {e.filename}: {e.strerror or type(e).__name__}; choose "
              "another path (--out DIR) or fix its permissions.", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("neuroplast: interrupted; `neuroplast resume RUN_DIR` continues from the last epoch.",
              file=sys.stderr)
        return 130
    if "neuroplast.train.distributed" in sys.modules:  # a torchrun worker leaves the group, exits
        sys.modules["neuroplast.train.distributed"].shutdown(code)
    return code
