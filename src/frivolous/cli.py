"""The ``frivolous`` command line."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from frivolous import __version__

if TYPE_CHECKING:
    import pandas as pd

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
    from frivolous.runs.spec import RunSpec, SpecError

    try:
        return RunSpec.from_yaml(path)
    except SpecError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


DEVICE = typer.Option("auto", help="auto (CUDA if present), cpu, cuda, cuda:N.")
DATA_ROOT = typer.Option(None, help="Folder of dataset files (default: $FRIVOLOUS_DATA or ~/.frivolous/data).")
WEIGHTS = typer.Option(
    None,
    "--weights",
    help="Weights for the model: .safetensors (.pt/.pth only through torch.load(weights_only=True)).",
)
MODEL_ARGS = typer.Option(
    None, "--model-arg", help="KEY=VALUE for the model's builder or factory, e.g. num_classes=10 (repeat)."
)


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
    accuracies = ", ".join(
        f"{split} {status[f'{split}_accuracy']:.4f}"
        for split in ("train", "val", "test")
        if f"{split}_accuracy" in status
    )
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
    from frivolous.measuring.console_table import layer_table
    from frivolous.runs.spec import SpecError

    try:
        result = measure_run(run_dir, device=device, data_root=data_root)
    except SpecError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    console = Console(width=max(Console().width, 110))
    console.print(layer_table(result, title=f"{run_dir.name}: {result.examples} examples"))


def _one_target(*, agreement: float | None, units: int | None, ratio: float | None) -> None:
    """Refuse contradictory targets before any model is loaded: --agreement is
    what the search for sizes keeps, --units and --ratio fix the sizes."""
    given = [
        f"--{name}"
        for name, value in (("agreement", agreement), ("units", units), ("ratio", ratio))
        if value is not None
    ]
    if len(given) > 1:
        raise ValueError(
            f"give one of --agreement, --units and --ratio, not {' and '.join(given)}: --agreement is "
            "what the search for sizes keeps, --units and --ratio fix the sizes"
        )


def _unchanged(layers: pd.DataFrame, *, units: int | None, ratio: float | None) -> str:
    """Why a compression that kept every layer whole is no compression ("" when a layer changed), naming
    the widths of the layers it could have shrunk (the others' notes say why they are kept whole)."""
    if (layers["units_after"] < layers["units_before"]).any():
        return ""
    shrinkable = layers[(layers["note"] == "") | layers["note"].str.startswith("kept whole")]
    widths = sorted(set((shrinkable if len(shrinkable) else layers)["units_before"]))
    described = f"{widths[0]}" if len(widths) == 1 else f"{widths[0]} to {widths[-1]}"
    target = f"--units {units}" if units is not None else f"--ratio {ratio:g}" if ratio is not None else "the search"
    return f"{target} keeps every layer whole (the layers compress can shrink have {described} units)"


@app.command("compress")
def compress_command(
    model: str = typer.Argument(
        ...,
        help="A trained run's folder, or a model as analyze names it: "
        "torchvision:NAME[:WEIGHTS], timm:NAME[:pretrained], hf:NAME_OR_PATH (a transformer: its MLP "
        "blocks), path/to/file.py:FUNCTION or package.module:FUNCTION.",
    ),
    out: Path = typer.Option(..., "--out", help="Folder for model.safetensors and compressed.json."),
    agreement: float | None = typer.Option(
        None,
        "--agreement",
        help="Top-1 agreement with the original to keep on "
        "the calibration data (the smallest network that keeps it is searched; "
        "default 0.99 when neither --units nor --ratio is given).",
    ),
    units: int | None = typer.Option(None, "--units", min=1, help="Keep this many units in every compressible layer."),
    ratio: float | None = typer.Option(None, "--ratio", min=1.0, help="About this many times fewer parameters."),
    data: str | None = typer.Option(
        None,
        "--data",
        help="A run folder: its split to fit on, train (default), val or "
        "test. Any other model: its data, as analyze names it (imagefolder:PATH, cifar10, "
        "mnist1d, teacher, FILE.safetensors, FILE.npy, random:C,H,W, ...).",
    ),
    held_out: str | None = typer.Option(
        None,
        "--held-out",
        help="A run folder: its split to judge on (never fitted): train, val or test (default test).",
    ),
    examples: int = typer.Option(
        2000, "--examples", min=2, help="Calibration examples (seeded; class-stratified where the labels are known)."
    ),
    held_out_examples: int | None = typer.Option(
        None,
        "--held-out-examples",
        min=1,
        help="Examples to judge on, "
        "never fitted (default: a run's whole held-out split; for any other "
        "model 1000 of --data, apart from the calibration examples).",
    ),
    stage: str | None = typer.Option(None, "--stage", help="A run folder: trained (default), init or epoch-N."),
    weights: Path | None = WEIGHTS,
    model_args: list[str] | None = MODEL_ARGS,
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Seeds an untrained model's weights, the examples drawn, the held-out part and the fit "
        "(default 0; a run folder: its spec's seed).",
    ),
    device: str = DEVICE,
    data_root: Path | None = DATA_ROOT,
) -> None:
    """Compress a trained run or any model into a smaller network (no gradient steps); print before -> after.

    A run folder is fitted on its train split, judged on its test split; any other model on disjoint parts of --data."""
    from frivolous.analysis.options import parse_model_args
    from frivolous.compression import CompressionError, CompressionWarning
    from frivolous.compression.named import HELD_OUT_EXAMPLES, compress_named
    from frivolous.compression.saved import save_compressed
    from frivolous.experiments.compress_run import SPLITS, compress_run
    from frivolous.runs.spec import SpecError
    from frivolous.sources import SourceError
    from frivolous.sources.models import model_scheme

    caution, described = "", ""
    try:
        _one_target(agreement=agreement, units=units, ratio=ratio)
        scheme, argument = model_scheme(model)
        with warnings.catch_warnings(record=True) as caught:  # printed as one line each, or dropped with an error
            warnings.simplefilter("always", CompressionWarning)
            if scheme == "run":
                if weights is not None or model_args or seed is not None:
                    raise SourceError(
                        "a run folder is built and seeded by its own spec; drop --weights, --model-arg and --seed"
                    )
                if data is not None and data not in SPLITS:
                    raise SourceError(
                        f"--data of a run folder is the split to fit on ({', '.join(SPLITS)}), got {data!r}"
                    )
                result, architecture = compress_run(
                    Path(argument),
                    agreement=agreement,
                    units=units,
                    ratio=ratio,
                    calibration=data or "train",
                    held_out=held_out or "test",
                    examples=examples,
                    held_out_examples=held_out_examples,
                    stage=stage or "trained",
                    device=device,
                    data_root=data_root,
                )
                record = {"run": argument, "stage": stage or "trained"}
            else:
                if held_out is not None or stage is not None:
                    raise SourceError(
                        "--held-out and --stage are a run folder's; any other model is judged on "
                        "--held-out-examples examples of --data that the fit never sees"
                    )
                named = compress_named(
                    model,
                    data,
                    weights=weights,
                    options=parse_model_args(model_args or ()),
                    examples=examples,
                    held_out=held_out_examples or HELD_OUT_EXAMPLES,
                    agreement=agreement,
                    units=units,
                    ratio=ratio,
                    seed=seed or 0,
                    device=device,
                    data_root=data_root,
                )
                result, architecture, record, caution = named.result, named.architecture, named.record, named.caution
                described = (
                    f"fitted on {record['calibration_examples']} examples of {record['data']}, judged on "
                    f"{result.held_out_examples} others"
                )
        unchanged = _unchanged(result.layers, units=units, ratio=ratio)
        if unchanged and (units is not None or ratio is not None):  # a size asked for that changes nothing
            raise ValueError(f"{unchanged}; nothing written to {out}")
        if unchanged:  # an answer, not an error: at that agreement no unit can go
            caution = caution or f"{unchanged}: at this agreement no unit can go"
    except (SpecError, SourceError, CompressionError, ValueError) as error:
        typer.echo(f"error: {(str(error).strip().splitlines() or [type(error).__name__])[0]}", err=True)
        raise typer.Exit(2) from None
    save_compressed(result, out, architecture, record)
    console = Console(width=max(Console().width, 110))
    for warning in dict.fromkeys([caution] + [str(w.message).strip().split("\n")[0] for w in caught]):
        if warning:
            console.print(f"[bold yellow]warning[/]: {warning}", highlight=False)
    console.print(
        result.layers[["layer", "units_before", "units_after", "note"]].to_string(index=False), highlight=False
    )
    if described:
        console.print(described, highlight=False)
    console.print(result.summary(), highlight=False)
    typer.echo(str(out))


@app.command()
def analyze(
    model: str = typer.Argument(
        ...,
        help="torchvision:NAME[:WEIGHTS], timm:NAME[:pretrained], hf:NAME_OR_PATH, a run "
        "folder, path/to/file.py:FUNCTION or package.module:FUNCTION.",
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        help="imagefolder:PATH, cifar10, mnist1d, teacher, FILE.safetensors, "
        "FILE.npy, random:C,H,W, hf-dataset:NAME[:SPLIT], FILE.txt (a run folder: its own "
        "data if not given).",
    ),
    layers: list[str] | None = typer.Option(
        None,
        "--layers",
        help="Layers to probe (repeat, or separate by commas; default: every hidden activation after a nonlinearity).",
    ),
    examples: int | None = typer.Option(
        None, "--examples", min=2, help="Examples to measure (default 1000; a run folder: its spec's)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder of the tables, figures and report.html (default: analysis/<MODEL>)."
    ),
    device: str = DEVICE,
    max_memory: str | None = typer.Option(
        None,
        "--max-memory",
        help="Memory of one batched re-run's activations, "
        "as 2GiB or 500MB (default: 1 GiB on CPU, a quarter of free GPU memory).",
    ),
    weights: Path | None = WEIGHTS,
    model_args: list[str] | None = MODEL_ARGS,
    samplings: int | None = typer.Option(None, "--samplings", min=1, help="Random samplings (default 3)."),
    levels: int | None = typer.Option(None, "--levels", min=2, help="Ablation levels from 0 to 1 (default 7)."),
    unit: str | None = typer.Option(None, "--unit", help="element (default; the paper's text) or channel."),
    threshold: float | None = typer.Option(None, "--threshold", help="|r| of a repeated pair (default 0.5)."),
    max_samples: int | None = typer.Option(None, "--max-samples", min=2, help="Rows per layer for the correlations."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Examples per forward pass."),
    seed: int | None = typer.Option(
        None, "--seed", help="Seeds an untrained model's weights, the examples drawn, masks and samples (default 0)."
    ),
    estimator: str | None = typer.Option(
        None,
        "--estimator",
        help="paper (default: the paper's samplings, each a permutation every example shares) or sampled (every "
        "example its own random masks: less noise per pass, 95% intervals on AUC and prunable units).",
    ),
    precision: float | None = typer.Option(
        None,
        "--precision",
        help="With --estimator sampled: stop ablating a layer once its AUC interval is within +- this "
        "(e.g. 0.01; default: every example).",
    ),
    dtype: str | None = typer.Option(
        None,
        "--dtype",
        help="float32 (default, the paper's), bfloat16 or float16: the format of the forward passes "
        "(bfloat16 runs on AMX/AVX512-BF16 CPUs and GPU tensor cores; labels within its rounding may flip).",
    ),
    autocast: bool = typer.Option(
        False, "--autocast", help="With --dtype: keep float32 weights and autocast each pass (the usual GPU path)."
    ),
    channels_last: bool = typer.Option(
        False, "--channels-last", help="Images and activations channels last (faster convolutions on CPU and GPU)."
    ),
    compress_hint: bool = typer.Option(
        True,
        "--compress-hint/--no-compress-hint",
        help="For a transformer whose MLP blocks compress recognises: run compress at 0.99 agreement on up to 200 "
        "of the examples (about blocks x (log2(units) + 2) forward passes of them) for a 'compress keeps' column "
        "and, when the MLPs could lose many units, a pointer to frivolous compress in the report.",
    ),
    data_root: Path | None = DATA_ROOT,
) -> None:
    """Measure removable and repeated units in any model, layer by layer: tables, figures and report.html."""
    from frivolous.analysis import analyze as run
    from frivolous.analysis.compress_hint import command_line
    from frivolous.analysis.layer_table import terminal_table
    from frivolous.analysis.options import default_out, estimator_options, layer_names, parse_model_args, parse_size
    from frivolous.sources import SourceError, resolve_data, resolve_model

    try:
        estimation = estimator_options(estimator, precision)
        budget = parse_size(max_memory) if max_memory is not None else None
        source = resolve_model(
            model, weights=weights, options=parse_model_args(model_args or ()), data_root=data_root, seed=seed or 0
        )
        examples_of = resolve_data(data, source, examples=examples, seed=seed or 0, data_root=data_root)
        folder = out if out is not None else Path(default_out(model))
        result = run(
            source,
            examples_of,
            folder,
            layers=layer_names(layers),
            device=device,
            max_memory=budget,
            samplings=samplings,
            levels=levels,
            unit=unit,
            threshold=threshold,
            max_samples=max_samples,
            batch_size=batch_size,
            seed=seed,
            dtype=dtype,
            autocast=autocast or None,
            channels_last=channels_last or None,
            compress=compress_hint,
            command=command_line(model, data, _model_words(weights, model_args, seed)),
            **estimation,
        )
    except (SourceError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    intervals = 30 if "auc_low" in result.table else 0  # the sampled estimator's [low, high] beside AUC and prunable
    intervals += 17 if "compress_keeps" in result.table else 0  # and a transformer's column of what compress keeps
    console = Console(width=max(Console().width, 130 + intervals + int(result.table["layer"].str.len().max())))
    for warning in result.warnings:
        console.print(f"[bold yellow]warning[/]: {warning}", highlight=False)
    console.print(
        terminal_table(
            result.table,
            f"{source.label} on {examples_of.label}: {examples_of.examples} "
            f"examples, {result.result.examples} predictions",
        )
    )
    if result.hint is not None and result.hint.sentence():
        console.print(result.hint.sentence(), highlight=False, soft_wrap=True)
    typer.echo(f"report: {result.layout.report} (tables and figures beside it); took {result.seconds:.1f} s")


def _model_words(weights: Path | None, model_args: list[str] | None, seed: int | None) -> list[str]:
    """The options that build the same model for ``frivolous compress``."""
    words = ["--weights", str(weights)] if weights is not None else []
    words += [word for arg in model_args or () for word in ("--model-arg", arg)]
    return words + (["--seed", str(seed)] if seed is not None else [])


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
BATCH_RUNS = typer.Option(
    "auto",
    "--batch-runs",
    help="Train runs that differ only in seed, init, optimiser or lr "
    "as one batched model: auto (the MLP and 1-D CNN runs), N (at most N runs a batch) or off. "
    "Local executor only.",
)


def _executor_options(
    kind: str,
    jobs: int,
    address: str | None,
    dashboard: bool,
    partition: str | None,
    minutes: int,
    cpus: float | None,
    gpus: float | None,
    mem: float | None,
    parallelism: int,
):
    from frivolous.experiments.executors import EXECUTORS, ExecutorOptions

    if kind not in EXECUTORS:
        typer.echo(f"--executor must be one of {list(EXECUTORS)}, got {kind!r}", err=True)
        raise typer.Exit(2)
    return ExecutorOptions(kind, jobs, address, dashboard, partition, minutes, cpus, gpus, mem, parallelism)


def _batch_runs(value: str, executor_kind: str) -> str:
    """``--batch-runs`` checked: batches train on the local executor only (Ray and Slurm take one run a task)."""
    from frivolous.experiments.batching import BatchRuns

    try:
        setting = BatchRuns.parse(value)
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    if executor_kind != "local" and not setting.off and not setting.auto:
        typer.echo(
            f"--batch-runs {value} needs the local executor; --executor {executor_kind} trains each run alone", err=True
        )
        raise typer.Exit(2)
    return value


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
    batch_runs: str = BATCH_RUNS,
) -> None:
    """Train and measure every run of a sweep; skip finished runs; write the results tables."""
    from frivolous.experiments.executors import make_executor
    from frivolous.experiments.sweep import SweepSpec
    from frivolous.runs.spec import SpecError
    from frivolous.sweeping import run_sweep

    try:
        sweep_spec = SweepSpec.from_yaml(spec)
    except SpecError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    options = _executor_options(
        executor_kind, jobs, address, dashboard, partition, minutes, cpus, gpus, mem, parallelism
    )
    batching = _batch_runs(batch_runs, executor_kind)
    summary = run_sweep(
        sweep_spec, out, executor=make_executor(options, out), device=device, data_root=data_root, batch_runs=batching
    )
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
        table.add_row(
            preset.name,
            preset.figures,
            preset.title,
            preset.varies,
            preset.data or "-",
            preset.estimate("quick"),
            preset.estimate("paper"),
        )
    console = Console(width=max(Console().width, 160))
    console.print(table)
    console.print(
        "Costs: an order of magnitude on a 2-core CPU (frivolous.experiments.run_costs); GPUs divide the "
        "CIFAR-10 and ImageNet ones by far.",
        highlight=False,
    )
    console.print(
        f"How each preset follows the paper's text and the authors' released code, setting by setting: "
        f"{_fidelity_doc()}",
        highlight=False,
    )


def _fidelity_doc() -> str:
    """docs/fidelity.md of a source checkout, or its place in the repository."""
    import frivolous

    local = Path(frivolous.__file__).resolve().parents[2] / "docs" / "fidelity.md"
    return str(local) if local.is_file() else "docs/fidelity.md in the frivolous repository"


SWEEP_DIR = typer.Argument(..., help="A sweep's folder (from frivolous sweep or reproduce).")


@app.command()
def plot(folder: Path = SWEEP_DIR) -> None:
    """Draw every figure of a sweep (PNG and SVG) into FOLDER/figures."""
    from frivolous.reproduce import figures

    written = figures(folder)
    typer.echo(f"{len(written)} files in {folder / 'figures'}")


@app.command()
def report(folder: Path = SWEEP_DIR) -> None:
    """Write FOLDER/report.md and FOLDER/report.html: figures, verdicts, failed and collapsed runs."""
    from frivolous.reproduce import report as write

    _, page = write(folder)
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
    batch_runs: str = BATCH_RUNS,
) -> None:
    """Run a preset end to end: train and measure every run, then figures, verdicts and a report.

    With no preset: the default main job, the MLP experiments on the teacher data (figures B4, B5, B11)."""
    from frivolous.experiments.executors import make_executor
    from frivolous.experiments.presets import SCALES
    from frivolous.experiments.presets import preset as find_preset
    from frivolous.reproduce import reproduce as run

    try:
        find_preset(preset)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    folder = out if out is not None else Path("out") / f"{preset}-{scale}"
    options = _executor_options(
        executor_kind, jobs, address, dashboard, partition, minutes, cpus, gpus, mem, parallelism
    )
    batching = _batch_runs(batch_runs, executor_kind)
    result = run(
        preset,
        scale=scale,
        out=folder,
        executor=make_executor(options, folder),
        device=device,
        data_root=data_root,
        batch_runs=batching,
    )
    if result.summary is not None:
        typer.echo(result.summary.line())
    typer.echo(f"report: {result.html} (and {result.markdown.name}); took {result.seconds / 60:.1f} minutes")
    raise typer.Exit(1 if result.summary is not None and result.summary.failed else 0)
