"""The `ragway` command line: serve the gateway and manage its config, indexes, models and logs."""

from __future__ import annotations

import typer

from gateway.cli.advise_cmd import advise_command
from gateway.cli.cluster import cluster
from gateway.cli.config_cmd import config_app
from gateway.cli.eval_cmd import eval_app
from gateway.cli.finetune import finetune
from gateway.cli.index import index_app
from gateway.cli.limits_cmd import limits_command
from gateway.cli.logs import logs_app
from gateway.cli.serve import serve

app = typer.Typer(
    help="ragway: a RAG-first inference gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(serve)
app.command()(cluster)
app.add_typer(config_app, name="config")
app.add_typer(index_app, name="index")
app.add_typer(logs_app, name="logs")
app.command("finetune")(finetune)
app.add_typer(eval_app, name="eval")
app.command("advise")(advise_command)
app.command("limits")(limits_command)


def main() -> None:
    app()
