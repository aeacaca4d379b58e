"""Layering: the lower packages do not import the CLI package, and the landmark names are
typed in one place (features/schema.py) and imported everywhere else."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOWER = ("features", "synthetic", "training", "model_registry", "batch", "serving")


def test_lower_layers_do_not_import_the_cli_package():
    modules = [f"{p.parent.name}.{p.stem}" for pkg in LOWER for p in (ROOT / pkg).glob("*.py")
               if p.stem != "__init__"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'relapse_risk'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"BENTOML_DO_NOT_TRACK": "True",
                                                     "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", out.stdout


def test_landmark_names_are_defined_once():
    """No string constant in code (docstrings aside) spells a landmark name outside
    features/schema.py."""
    names = {"auto", "infusion", "day28"}
    offenders = []
    for pkg in LOWER + ("relapse_risk",):
        for path in (ROOT / pkg).rglob("*.py"):
            if path == ROOT / "features" / "schema.py":
                continue
            tree = ast.parse(path.read_text())
            docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                          if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                               ast.AsyncFunctionDef))
                          and node.body and isinstance(node.body[0], ast.Expr)}
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
                          for node in ast.walk(tree)
                          if isinstance(node, ast.Constant) and node.value in names
                          and id(node) not in docstrings]
    assert offenders == [], "\n".join(offenders)
