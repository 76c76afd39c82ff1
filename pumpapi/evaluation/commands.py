"""`pumpapi evaluate FAMILY [VERSION]`: measure a stored version on independent simulated fleets.

Heavy libraries are imported inside the command, so registering it costs the service nothing.
"""

from __future__ import annotations

import json
from typing import Any

import click

from pumpapi.evaluation.card import flat, measured
from pumpapi.models.commands import local_of, store_option


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The human summary: per scenario, the model's metrics and each baseline's, then goals."""
    lines = [
        f"{result['family']} version {result['version']}: {result['fleets']['pumps']} pumps × "
        f"{result['fleets']['steps']} readings per scenario, seed {result['fleets']['seed']} "
        f"(95 % bootstrap intervals over pumps, {result['confidence']['resamples']} resamples)"
    ]
    for name, scenario in result["scenarios"].items():
        lines.append(f"\n[{name}] {scenario.get('rows', '?')} rows")
        for metric, value in flat(scenario["metrics"]):
            lines.append(f"  model     {metric:22} {measured(value)}")
        for metric, value in flat((scenario.get("window_model") or {}).get("metrics", {})):
            lines.append(f"  window    {metric:22} {measured(value)}")
        for metric, value in flat(scenario.get("posted_windows", {})):
            lines.append(f"  posted    {metric:22} {measured(value)}")
        for baseline, metrics in scenario.get("baselines", {}).items():
            for metric, value in flat(metrics):
                lines.append(f"  {baseline[:9]:9} {metric:22} {measured(value)}")
    goals = result.get("goals", [])
    if goals:
        lines.append("\nGoals:")
        for goal in goals:
            mark = "met" if goal["met"] else "NOT MET"
            shown = ", ".join(f"{k} {measured(v)}" for k, v in goal.get("measured", {}).items())
            lines.append(f"  [{mark:7}] {goal['scenario']}: {goal['goal']} — {shown}")
    lines.append(f"\n({result['seconds']} s)")
    return lines


@click.command("evaluate")
@store_option
@click.argument("family", type=click.Choice(["xgboost", "gru", "lstm"]))
@click.argument("version", default="latest")
@click.option(
    "--pumps",
    default=None,
    type=click.IntRange(min=1),
    help="Pumps per scenario fleet (default: 240 for gru, 60 for the others).",
)
@click.option("--steps", default=20_000, show_default=True, help="Readings per pump (1/minute).")
@click.option(
    "--seed",
    default=None,
    type=int,
    help="Evaluation seed (default pumpapi.evaluation.fleets.DEFAULT_SEED); refused if it is "
    "the version's training seed.",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    help="Only these scenarios (repeatable): in_distribution, hot_climate, low_load, "
    "aged_batteries, fault_rate_x3, sensor_noise_x2. Default: all.",
)
@click.option("--resamples", default=500, show_default=True, help="Bootstrap resamples.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--record/--no-record",
    default=True,
    show_default=True,
    help="Write the result into the version's metadata (`evaluation`, /model/FAMILY/info).",
)
@click.option(
    "--card",
    is_flag=True,
    help="Also write the model card section and plots (docs/models.md, docs/models/).",
)
@click.option("--docs", default="docs", show_default=True, help="Where --card writes.")
def evaluate_command(
    store_root: str,
    family: str,
    version: str,
    pumps: int | None,
    steps: int,
    seed: int | None,
    scenarios: tuple[str, ...],
    resamples: int,
    as_json: bool,
    record: bool,
    card: bool,
    docs: str,
) -> None:
    """Evaluate FAMILY (VERSION, default latest) on independent simulated fleets, under the
    shift scenarios, with bootstrap confidence intervals over pumps, against the trivial
    answers."""
    from pumpapi import evaluation
    from pumpapi.evaluation import fleets

    store = local_of(store_root)
    try:
        model = evaluation.load_model(store, family, version)
        result = evaluation.evaluate(
            family,
            model,
            pumps=pumps,
            steps=steps,
            seed=fleets.DEFAULT_SEED if seed is None else seed,
            scenarios=list(scenarios) or None,
            resamples=resamples,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if record:
        evaluation.record(model.version, result)
    if card:
        from pumpapi.evaluation import card as card_module

        written = card_module.write(result, docs)
        click.echo(f"model card written: {', '.join(str(p) for p in written)}", err=True)
    if as_json:
        click.echo(json.dumps(evaluation.without_plots(result), indent=2))
    else:
        click.echo("\n".join(summary_lines(result)))
