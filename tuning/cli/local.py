"""The local commands, which are not operations of the service: ``run`` (the main job on the embedded
sample), ``summarize`` (the data pipeline alone) and ``generate-data`` (a synthetic Interactions file)."""

from __future__ import annotations


def run(members: dict, local: dict, ctx) -> dict:
    """The main job: the example HPO request on the sample data (its embedded default), end to end."""
    from ..operations import call
    from ..request import load_request
    from ..samples import example_request, sample_interactions

    request = load_request(str(local.get("request") or example_request()))
    ctx.local = {"interactions": str(local.get("interactions") or sample_interactions())}
    solution = call(ctx, "CreateSolution", request)["solutionArn"]
    arn = call(ctx, "CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    described = call(ctx, "DescribeSolutionVersion", {"solutionVersionArn": arn})["solutionVersion"]
    metrics = call(ctx, "GetSolutionMetrics", {"solutionVersionArn": arn})["metrics"] \
        if described["status"] == "ACTIVE" else None
    return {"solutionVersionArn": arn, "status": described["status"],
            "tunedHPOParams": described.get("tunedHPOParams"), "metrics": metrics,
            "trainingHours": described.get("trainingHours"), "results": str(ctx.workspace.resolve_version(arn).path)}


def summarize(members: dict, local: dict, ctx) -> dict:
    from hrnn.data import DataConfig, load_interactions

    from ..locations import local_file
    from ..request import parse_event_value_threshold
    from ..samples import sample_interactions

    threshold = parse_event_value_threshold(local.get("eventValueThreshold"), "--event-value-threshold")
    config = DataConfig(event_type=local.get("eventType"), event_value_threshold=threshold)
    path = local_file(str(local.get("interactions") or sample_interactions()), "--interactions", ctx.access)
    return {"interactions": path, "summary": load_interactions(path, config).summary()}


def generate_data(members: dict, local: dict, ctx) -> None:
    import argparse

    from hrnn.synth.cli import add_arguments
    from hrnn.synth.cli import run as generate

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    generate(argparse.Namespace(**{a.dest: local.get(a.dest, a.default) for a in parser._actions}))
