"""The `relapse-risk` command: one thin subcommand per pipeline step.

Each command lives in the module named after it (`train` in `train.py`, `cohort add` in
`cohort.py`, `import` in `importing.py`), parses its options and calls the one function of
the package that owns the work. What they share (options, exit status, atomic outputs) is
in `common.py`.

Exit status, the same for every command: 0 done; 1 done, but a check failed or some input
rows were rejected (they are in the errors file); 2 bad input or usage, or a registry that
cannot give what was asked; 3 an output could not be written; 4 a stored cohort or mapping
is damaged (reported and skipped).
"""

from __future__ import annotations

import typer

from relapse_risk.cli import (
    cohort,
    evaluate,
    generator,
    importing,
    mapping,
    recalibrate,
    registry,
    retrain,
    score,
    serve,
    train,
    validate,
)
from relapse_risk.cli.common import EXIT_CHECK_FAILED, EXIT_DAMAGED, EXIT_INPUT, EXIT_OUTPUT

__all__ = ["EXIT_CHECK_FAILED", "EXIT_DAMAGED", "EXIT_INPUT", "EXIT_OUTPUT", "app", "main"]

# Plain (click) help: flags show no `<bool>`, and choices are listed as [a|b|c].
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Relapse/progression risk after CD19 CAR-T (research use only).",
)

# Single commands, in the order of the data flow.
app.command()(generator.synth)
app.command()(generator.calibrate)
app.command("fit-generator")(generator.fit_generator)
app.command("import")(importing.import_export)
app.command()(train.train)
app.command()(evaluate.evaluate)
app.command()(validate.validate)
app.command()(recalibrate.recalibrate)
app.command()(retrain.retrain)
app.command()(score.score)
app.command()(serve.serve)
# Command groups.
app.add_typer(cohort.app, name="cohort")
app.add_typer(registry.app, name="registry")
app.add_typer(mapping.app, name="mapping")
app.add_typer(serve.bento_app, name="bento")


def main() -> None:
    app()
