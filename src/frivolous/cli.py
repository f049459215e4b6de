"""The ``frivolous`` command line."""

from __future__ import annotations

import typer
from rich.console import Console

from frivolous import __version__

app = typer.Typer(
    name="frivolous",
    help="Find the units a trained neural network could do without: removable and repeated units.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"frivolous {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """frivolous measures removable and repeated units in PyTorch models."""


@app.command()
def demo(
    examples: int = typer.Option(2000, min=10, help="Random inputs to measure on."),
    hidden: int = typer.Option(32, min=2, help="Hidden units of the small network S."),
    seed: int = typer.Option(0, help="Seed of S, the inputs and every measurement."),
) -> None:
    """Measure the paper's Section 2.3 constructions and explain what the numbers mean."""
    from frivolous.demo import render, run_demo

    console = Console(width=max(Console().width, 112))
    with console.status("measuring S and four networks twice as wide ..."):
        rows = run_demo(examples=examples, hidden=hidden, seed=seed)
    render(rows, console)
