"""Layering: the lower packages do not import the CLI package, and the landmark names are
typed in one place (features/schema.py) and imported everywhere else."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOWER = ("features", "synthetic", "training", "model_registry", "batch", "serving")


def test_lower_layers_do_not_import_the_cli_package():
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for pkg in LOWER
        for p in (ROOT / pkg).rglob("*.py")
        if p.stem != "__init__"
    ]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'relapse_risk'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"BENTOML_DO_NOT_TRACK": "True", "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[]", out.stdout


# training/ by stage: a module may import its own stage and those below, never one above.
# Stage 0 is the shared foundation (models, cohorts, metrics, plots); development is the
# modules at training/'s top that strategies and `train` use.
TRAINING_STAGES = {
    "training.models": 0,
    "training.outcome": 0,
    "training.cohort": 0,
    "training.metrics": 0,
    "training.report": 0,
    "training.calibration": 0,
    "training.progress": 0,
    "training.resampling": 0,
    "training.choices": 0,
    "training.export": 1,
    "training.landmark_fit": 2,
    "training.train": 2,
    "training.develop": 2,
    "training.samplesize": 2,
    "training.progression": 2,
    "training.evaluation": 3,
    "training.updating": 4,
}


def _stage(module: str) -> int:
    for prefix, stage in sorted(TRAINING_STAGES.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return stage
    raise AssertionError(f"{module} has no stage in TRAINING_STAGES: add it")


def _imports(tree) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.lineno, node.module)]
            found += [
                (node.lineno, f"{node.module}.{a.name}")
                for a in node.names
                if node.module == "training"
            ]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in found if m.split(".")[0] == "training"]


def test_training_stages_import_downwards_only():
    """Export < development < evaluation < updating: no module imports a later stage, even
    inside a function (a deferred import is still a dependency)."""
    offenders = []
    for path in (ROOT / "training").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module == "training":
            continue
        own = _stage(module)
        offenders += [
            f"{module} (stage {own}) imports {target} (stage {_stage(target)}) at line {line}"
            for line, target in _imports(ast.parse(path.read_text()))
            if target != "training" and _stage(target) > own
        ]
    assert offenders == [], "\n".join(offenders)


def test_training_stages_are_where_the_commands_say():
    """A newcomer finds each command's code by its name; no two modules share a name."""
    for command, module in {
        "train": "training/train.py",
        "evaluate": "training/evaluation/evaluate.py",
        "validate": "training/evaluation/external_validation.py",
        "recalibrate": "training/updating/recalibrate.py",
        "retrain": "training/updating/retrain.py",
    }.items():
        text = " ".join((ROOT / module).read_text().split())
        assert f"relapse-risk {command}" in text or f"`{command}`" in text, (command, module)
    stems = [p.stem for p in (ROOT / "training").rglob("*.py") if p.stem != "__init__"]
    assert len(stems) == len(set(stems)), sorted(stems)


def _landmark_contexts(tree) -> set[int]:
    """ids of the constants used as a landmark: compared with, passed as, defaulted to or
    assigned to something named *landmark*."""

    def named(node) -> bool:
        name = getattr(node, "id", None) or getattr(node, "attr", None) or ""
        return "landmark" in name

    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(named(n) for n in [node.left, *node.comparators]):
            found |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Constant)}
        elif isinstance(node, ast.keyword) and node.arg and "landmark" in node.arg:
            found |= {id(n) for n in ast.walk(node.value)}
        elif isinstance(node, ast.arguments):
            args = [*node.posonlyargs, *node.args]
            for arg, default in zip(args[len(args) - len(node.defaults) :], node.defaults):
                if "landmark" in arg.arg:
                    found |= {id(n) for n in ast.walk(default)}
            for arg, default in zip(node.kwonlyargs, node.kw_defaults):
                if default is not None and "landmark" in arg.arg:
                    found |= {id(n) for n in ast.walk(default)}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(named(t) for t in targets) and node.value is not None:
                found |= {id(n) for n in ast.walk(node.value)}
    return found


def test_landmark_names_are_defined_once():
    """No string constant in code (docstrings aside) spells a landmark ('infusion', 'day28')
    outside features/schema.py, nor 'auto' where it stands for a landmark ('auto' is also a
    recalibration method, a different vocabulary)."""
    offenders = []
    for pkg in LOWER + ("relapse_risk",):
        for path in (ROOT / pkg).rglob("*.py"):
            if path == ROOT / "features" / "schema.py":
                continue
            tree = ast.parse(path.read_text())
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(
                    node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
                )
                and node.body
                and isinstance(node.body[0], ast.Expr)
            }
            as_landmark = _landmark_contexts(tree)
            # A mapping's date role "infusion" is a date, named once as INFUSION_DATE.
            dates = {
                id(n.value)
                for n in ast.walk(tree)
                if isinstance(n, ast.Assign)
                and [getattr(t, "id", "") for t in n.targets] == ["INFUSION_DATE"]
            }
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant)
                and id(node) not in docstrings
                and id(node) not in dates
                and (
                    node.value in ("infusion", "day28")
                    or (node.value == "auto" and id(node) in as_landmark)
                )
            ]
    assert offenders == [], "\n".join(offenders)


def _code_constants(tree):
    """(node, docstring?) for every constant of a module."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docstrings]


def test_each_rule_has_one_definition():
    """The old literals are gone: outcome column names (features/schema.py), the horizons
    (schema), the landmark check (schema's `require_landmark`) and the IPI's thresholds
    (features/ipi.py) are written once and imported everywhere else."""
    from features import schema

    outcome_names = {
        schema.PFS_MONTHS,
        schema.PFS_EVENT,
        schema.PFS_EVENT_TYPE,
        schema.OS_MONTHS,
        schema.OS_EVENT,
    }
    horizons = {tuple(schema.HORIZONS_MONTHS), tuple(schema.PROGRESSION_HORIZONS_MONTHS)}
    offenders = []
    for pkg in LOWER + ("relapse_risk",):
        for path in (ROOT / pkg).rglob("*.py"):
            where = path.relative_to(ROOT)
            tree = ast.parse(path.read_text())
            if path != ROOT / "features" / "schema.py":
                for node in _code_constants(tree):
                    if node.value in outcome_names:
                        offenders.append(f"{where}:{node.lineno}: {node.value!r}")
                    elif isinstance(node.value, str) and "landmark must be one of" in node.value:
                        offenders.append(f"{where}:{node.lineno}: a landmark check of its own")
                for node in ast.walk(tree):
                    if (
                        isinstance(node, (ast.Tuple, ast.List))
                        and node.elts
                        and all(
                            isinstance(e, ast.Constant) and isinstance(e.value, (int, float))
                            for e in node.elts
                        )
                    ):
                        if tuple(float(e.value) for e in node.elts) in horizons:
                            offenders.append(f"{where}:{node.lineno}: horizons typed again")
            if path != ROOT / "features" / "ipi.py":
                for node in ast.walk(tree):
                    if isinstance(node, ast.Compare) and any(
                        isinstance(c, ast.Constant) and c.value == 60 for c in node.comparators
                    ):
                        offenders.append(f"{where}:{node.lineno}: an IPI age threshold")
                offenders += [
                    f"{where}:{n.lineno}: the IPI's parts described again"
                    for n in _code_constants(tree)
                    if isinstance(n.value, str) and "ECOG >= 2" in n.value
                ]
    assert offenders == [], "\n".join(offenders)
