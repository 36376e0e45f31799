"""The one translation table from domain errors to a message line and an exit code.

0 success · 1 a gate failed · 2 bad input or usage · 3 a run finished but some cells failed ·
130 interrupted (Ctrl-C) · 70 an internal error (a bug). A traceback is shown only with
`tbench --debug ...`, which keeps the exit code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

from ..errors import TbenchError
from .output import err_console

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_CELLS = 0, 1, 2, 3
EXIT_INTERNAL = 70

state = {"debug": False}


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except TbenchError as exc:
            if state["debug"]:  # the traceback, then the same exit code as without --debug
                err_console.print_exception()
                raise typer.Exit(exc.exit_code) from None
            # escaped: messages quote user input and commands such as pip install 'pkg[extra]'
            err_console.print(f"[bold red]error:[/] {escape(exc.line())}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/] — finished cells are kept; re-run with --resume")
            raise typer.Exit(130) from None
        except Exception as exc:
            if state["debug"]:
                err_console.print_exception()
                raise typer.Exit(EXIT_INTERNAL) from None
            msg = " ".join(str(exc).split())[:300]
            err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(msg)} "
                              "(re-run with `tbench --debug ...` for the traceback)", highlight=False)
            raise typer.Exit(EXIT_INTERNAL) from None

    wrapper.translates_errors = True  # type: ignore[attr-defined]
    return wrapper
