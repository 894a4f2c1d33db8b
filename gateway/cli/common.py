"""Helpers every CLI command shares: the config directory option and one-line failures."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import typer
from rich.console import Console

ConfigDir = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="RAGWAY_CONFIG", help="Config directory holding gateway.yaml and routes/."),
]
DEFAULT_CONFIG = Path("configs")

# Piped or redirected output has no terminal width to honour: rich would cut tables to 80 columns.
PIPED_WIDTH = 1000


def _width(stream: TextIO) -> int | None:
    return None if stream.isatty() else PIPED_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error to stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def offline_env() -> None:
    """Models and price maps come from installed packages, never the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
