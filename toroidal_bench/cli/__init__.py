"""The `tbench` command line. Nothing outside this package imports typer."""

from __future__ import annotations

from .app import app


def main() -> None:
    app(prog_name="tbench")


__all__ = ["app", "main"]
