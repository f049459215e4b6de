"""The ``frivolous`` command line."""

from __future__ import annotations

from pathlib import Path

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


def _spec_or_exit(path: Path):
    from frivolous.experiments.spec import RunSpec, SpecError

    try:
        return RunSpec.from_yaml(path)
    except SpecError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


DEVICE = typer.Option("auto", help="auto (CUDA if present), cpu, cuda, cuda:N.")
DATA_ROOT = typer.Option(None, help="Folder of dataset files (default: $FRIVOLOUS_DATA or ~/.frivolous/data).")


@app.command()
def train(
    spec: Path = typer.Argument(..., help="Run spec (YAML).", exists=False),
    out: Path = typer.Option(Path("runs"), "--out", help="Root folder of run folders."),
    device: str = DEVICE,
    data_root: Path | None = DATA_ROOT,
) -> None:
    """Train one run; resume it if it was interrupted; do nothing if it is done. Prints the run folder.

    Under torchrun (torchrun --nproc-per-node N -m frivolous train SPEC) the N processes train it together."""
    from frivolous.experiments.run import train_run
    from frivolous.train.distributed import from_environment, stop

    run_spec = _spec_or_exit(spec)
    shard = from_environment()
    try:
        outcome = train_run(run_spec, out, device=device, data_root=data_root)
    finally:
        stop(shard)
    if not shard.main:
        return
    status = outcome.status
    note = "already trained" if outcome.skipped else f"trained in {status['seconds']:.1f} s"
    accuracies = ", ".join(f"{split} {status[f'{split}_accuracy']:.4f}" for split in ("train", "val", "test")
                           if f"{split}_accuracy" in status)  # fmt: skip
    typer.echo(f"{note}: {status['epochs']} epochs, {status['params']:,} parameters, accuracy {accuracies}", err=True)
    typer.echo(str(outcome.layout.root))


@app.command("measure")
def measure_command(
    run_dir: Path = typer.Argument(..., help="A trained run's folder."),
    device: str = DEVICE,
    data_root: Path | None = DATA_ROOT,
) -> None:
    """Measure a trained run with its spec's options; write the results into its folder."""
    from frivolous.experiments.run import measure_run
    from frivolous.experiments.spec import SpecError
    from frivolous.measure.table import layer_table

    try:
        result = measure_run(run_dir, device=device, data_root=data_root)
    except SpecError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    console = Console(width=max(Console().width, 110))
    console.print(layer_table(result, title=f"{run_dir.name}: {result.examples} examples"))


JOBS = typer.Option(1, "--jobs", min=1, help="Runs at a time, each in its own worker process (1: in this process).")
EXECUTOR = typer.Option("local", "--executor", help="Where runs execute: local, ray or slurm.")
ADDRESS = typer.Option(None, "--address", help="Ray: the cluster to join (default: a private local instance).")
DASHBOARD = typer.Option(False, "--ray-dashboard", help="Ray: start the dashboard, on 127.0.0.1 only.")
PARTITION = typer.Option(None, "--partition", help="Slurm: the partition.")
MINUTES = typer.Option(24 * 60, "--time", min=1, help="Slurm: the time limit of one run's job, in minutes.")
CPUS = typer.Option(None, "--cpus", min=0, help="Ray/Slurm: CPUs per run (default: per model family / Slurm's).")
GPUS = typer.Option(None, "--gpus", min=0, help="Ray/Slurm: GPUs per run.")
MEM = typer.Option(None, "--mem", min=0, help="Slurm: memory per run, in GB.")
PARALLELISM = typer.Option(64, "--parallelism", min=1, help="Slurm: jobs of the array running at once.")


def _executor_options(kind: str, jobs: int, address: str | None, dashboard: bool, partition: str | None,
                      minutes: int, cpus: float | None, gpus: float | None, mem: float | None, parallelism: int):  # fmt: skip
    from frivolous.experiments.executors import EXECUTORS, ExecutorOptions

    if kind not in EXECUTORS:
        typer.echo(f"--executor must be one of {list(EXECUTORS)}, got {kind!r}", err=True)
        raise typer.Exit(2)
    return ExecutorOptions(kind, jobs, address, dashboard, partition, minutes, cpus, gpus, mem, parallelism)


@app.command()
def sweep(
    spec: Path = typer.Argument(..., help="Sweep spec (YAML): a run spec plus grid, variants, replicates, select."),
    out: Path = typer.Option(..., "--out", help="The sweep's folder (runs, tables)."),
    jobs: int = JOBS,
    device: str = DEVICE,
    data_root: Path | None = DATA_ROOT,
    executor_kind: str = EXECUTOR,
    address: str | None = ADDRESS,
    dashboard: bool = DASHBOARD,
    partition: str | None = PARTITION,
    minutes: int = MINUTES,
    cpus: float | None = CPUS,
    gpus: float | None = GPUS,
    mem: float | None = MEM,
    parallelism: int = PARALLELISM,
) -> None:
    """Train and measure every run of a sweep; skip finished runs; write the results tables."""
    from frivolous.experiments.executors import make_executor
    from frivolous.experiments.runner import run_sweep
    from frivolous.experiments.spec import SpecError
    from frivolous.experiments.sweep import SweepSpec

    try:
        sweep_spec = SweepSpec.from_yaml(spec)
    except SpecError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    options = _executor_options(executor_kind, jobs, address, dashboard, partition, minutes, cpus, gpus, mem,
                                parallelism)  # fmt: skip
    summary = run_sweep(sweep_spec, out, executor=make_executor(options, out), device=device, data_root=data_root)
    typer.echo(f"results: {out / 'results.parquet'}")
    typer.echo(summary.line())
    raise typer.Exit(1 if summary.failed else 0)


@app.command()
def presets() -> None:
    """List the paper's experiments: the figures each reproduces, what it varies, and its cost."""
    from rich.table import Table

    from frivolous.experiments.presets import PRESETS

    table = Table(title="Presets (frivolous reproduce PRESET --scale quick|paper)")
    for column in ("preset", "figures", "what", "varies", "data", "quick", "paper"):
        table.add_column(column)
    for preset in PRESETS.values():
        table.add_row(preset.name, preset.figures, preset.title, preset.varies, preset.data or "-",
                      preset.estimate("quick"), preset.estimate("paper"))  # fmt: skip
    console = Console(width=max(Console().width, 160))
    console.print(table)
    console.print("Costs: an order of magnitude on a 2-core CPU (frivolous.experiments.costs); GPUs divide the "
                  "CIFAR-10 and ImageNet ones by far.", highlight=False)  # fmt: skip


SWEEP_DIR = typer.Argument(..., help="A sweep's folder (from frivolous sweep or reproduce).")


@app.command()
def plot(folder: Path = SWEEP_DIR) -> None:
    """Draw every figure of a sweep (PNG and SVG) into FOLDER/figures."""
    from frivolous.experiments.reproduce import figures

    written = figures(folder)
    typer.echo(f"{len(written)} files in {folder / 'figures'}")


@app.command()
def report(folder: Path = SWEEP_DIR) -> None:
    """Write FOLDER/report.md and FOLDER/report.html: figures, verdicts, failed and collapsed runs."""
    from frivolous.experiments.reproduce import report as write

    markdown, page = write(folder)
    typer.echo(f"report: {page}")


@app.command()
def reproduce(
    preset: str = typer.Argument("mlp-teacher", help="A preset (see `frivolous presets`)."),
    scale: str = typer.Option("quick", help="quick (a CPU, minutes to hours) or paper (the paper's settings)."),
    out: Path | None = typer.Option(None, "--out", help="The sweep's folder (default: out/PRESET-SCALE)."),
    jobs: int = JOBS,
    device: str = DEVICE,
    data_root: Path | None = DATA_ROOT,
    executor_kind: str = EXECUTOR,
    address: str | None = ADDRESS,
    dashboard: bool = DASHBOARD,
    partition: str | None = PARTITION,
    minutes: int = MINUTES,
    cpus: float | None = CPUS,
    gpus: float | None = GPUS,
    mem: float | None = MEM,
    parallelism: int = PARALLELISM,
) -> None:
    """Run a preset end to end: train and measure every run, then figures, verdicts and a report.

    With no preset: the default main job, the MLP experiments on the teacher data (figures B4, B5, B11)."""
    from frivolous.experiments.executors import make_executor
    from frivolous.experiments.presets import SCALES, preset as find_preset
    from frivolous.experiments.reproduce import reproduce as run

    try:
        find_preset(preset)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    folder = out if out is not None else Path("out") / f"{preset}-{scale}"
    options = _executor_options(executor_kind, jobs, address, dashboard, partition, minutes, cpus, gpus, mem,
                                parallelism)  # fmt: skip
    result = run(preset, scale=scale, out=folder, executor=make_executor(options, folder), device=device,
                 data_root=data_root)  # fmt: skip
    if result.summary is not None:
        typer.echo(result.summary.line())
    typer.echo(f"report: {result.html} (and {result.markdown.name}); took {result.seconds / 60:.1f} minutes")
    raise typer.Exit(1 if result.summary is not None and result.summary.failed else 0)
