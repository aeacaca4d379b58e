"""The bento as a user deploys it: built by `relapse-risk bento build`, served by
`bentoml serve <tag>` from a fresh virtual environment made from the bento's own
requirements, in a directory outside the repository, and called with BentoML's client.

The venv install takes about 40 s with pip's cache warm (it is, after `make test`'s
own install); it reaches the package index only for what the cache lacks.
"""

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import bentoml
import pytest

from model_registry.registry import Registry

KEY = "bento-test-key-7"
ROOT = Path(__file__).resolve().parents[2]
PATIENT = {
    "patient_id": "B-1",
    "age_years": 70,
    "stage": 3,
    "prior_lines": 2,
    "bridging_therapy": "none",
}
PROJECT_PACKAGES = (
    "features",
    "synthetic",
    "training",
    "model_registry",
    "batch",
    "serving",
    "relapse_risk",
)
TRAINING_STACK = (
    "scikit-learn",
    "xgboost",
    "lifelines",
    "scikit-survival",
    "skl2onnx",
    "onnxmltools",
    "matplotlib",
    "dask",
    "scipy",
    "typer",
)


def _run(command, **kw):
    result = subprocess.run(command, capture_output=True, text=True, **kw)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory, trained, copy_version):
    """A registry with v0001 in production, a bento carrying it, and a fresh venv."""
    source, version, _ = trained
    tmp = tmp_path_factory.mktemp("bento")
    registry = Registry(tmp / "registry")
    registry.promote(copy_version(source, version, registry))
    env = {**os.environ, "BENTOML_HOME": str(tmp / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    cli = Path(sys.executable).parent / "relapse-risk"
    out = _run([str(cli), "bento", "build", "--registry", str(registry.root)], env=env, cwd=ROOT)
    tag = next(line.split()[-1] for line in out.splitlines() if line.startswith("built bento"))
    name, bento_version = tag.split(":")
    bento_dir = tmp / "bentoml" / "bentos" / name / bento_version
    venv.create(tmp / "venv", with_pip=True)
    _run(
        [
            str(tmp / "venv" / "bin" / "pip"),
            "install",
            "--quiet",
            # Byte-compiling every installed module is a third of the install (55 s with, 37
            # without); the server compiles what it imports as it imports it.
            "--no-compile",
            "--disable-pip-version-check",
            "-r",
            str(bento_dir / "env" / "python" / "requirements.txt"),
        ],
        timeout=900,
    )
    outside = tmp / "elsewhere"
    outside.mkdir()
    return {
        "tmp": tmp,
        "tag": tag,
        "dir": bento_dir,
        "registry": registry,
        "bentoml": str(tmp / "venv" / "bin" / "bentoml"),
        "outside": outside,
    }


def _serve(start_server, built, registry_root=None, log_name="server.log"):
    # The fresh venv first on PATH; nothing of the repository's environment on the path.
    env = {
        "PATH": f"{built['tmp'] / 'venv' / 'bin'}:/usr/bin:/bin",
        "PYTHONPATH": "",
        "VIRTUAL_ENV": str(built["tmp"] / "venv"),
    }
    return start_server(
        registry_root,
        built["tmp"],
        KEY,
        env,
        bentoml=built["bentoml"],
        serve_args=(built["tag"],),
        cwd=built["outside"],
        log_name=log_name,
    )


def test_the_bento_holds_the_serving_code_and_runtime_only(built):
    imported = _run(
        [
            sys.executable,
            "-c",
            (
                "import sys, serving.service\n"
                f"print('\\n'.join(m.__file__ for n, m in sys.modules.items() "
                f"if n.split('.')[0] in {PROJECT_PACKAGES!r}))"
            ),
        ],
        cwd=ROOT,
        env={**os.environ, "BENTOML_DO_NOT_TRACK": "True"},
    )
    needed = {str(Path(f).resolve().relative_to(ROOT)) for f in imported.split()}
    src = built["dir"] / "src"
    shipped = {str(p.relative_to(src)) for p in src.rglob("*.py")}
    assert shipped == needed
    assert {p.name for p in (src / "serving" / "static").iterdir()} == {
        p.name for p in (ROOT / "serving" / "static").iterdir()
    }
    requirements = (built["dir"] / "env" / "python" / "requirements.txt").read_text().split()
    names = {r.split("==")[0].lower() for r in requirements}
    assert names == {"numpy", "pandas", "onnxruntime", "onnx", "bentoml"}, requirements
    assert all("==" in r for r in requirements)  # pinned to the build environment's versions


def test_the_fresh_environment_lacks_the_training_stack(built):
    python = built["tmp"] / "venv" / "bin" / "python"
    listed = _run([str(python), "-m", "pip", "list", "--format=json"])
    installed = {p["name"].lower() for p in json.loads(listed)}
    assert not installed & set(TRAINING_STACK)
    assert "relapse-risk" not in installed  # the project is in the bento, not installed


def test_the_served_bento_scores_with_the_model_it_carries(start_server, built, tmp_path):
    server = _serve(start_server, built)
    try:
        server.wait_ready()
        export = tmp_path / "export.csv"
        export.write_text("patient_id,age_years,prior_lines\nA,60,2\nB,61,0\n")
        with bentoml.SyncHTTPClient(server.url, token=KEY) as client:
            score = client.score(patient=PATIENT)
            assert score["model_version"] == "v0001" and 0 < score["risk_12m"] < 1
            batch = client.score_batch(patients=[PATIENT, {**PATIENT, "stage": 7}])
            assert (batch["scored"], batch["rejected"]) == (1, 1)
            with zipfile.ZipFile(client.score_csv(file=export)) as archive:
                summary = json.loads(archive.read("summary.json"))
            assert (summary["scored"], summary["rejected"]) == (1, 1)
        log = server.log_path.read_text()
        assert "serving model v0001 (was None) from the model the bento carries" in log
        assert "Traceback" not in log
    finally:
        server.stop()


def test_the_served_bento_follows_a_shared_registry_when_told(start_server, built, copy_version):
    registry = built["registry"]
    second = copy_version(registry, "v0001", registry)
    registry.promote(second)
    server = _serve(start_server, built, registry.root, "shared.log")
    try:
        server.wait_ready()
        with bentoml.SyncHTTPClient(server.url, token=KEY) as client:
            assert client.score(patient=PATIENT)["model_version"] == second
        assert f"from the registry at {registry.root}" in server.log_path.read_text()
    finally:
        server.stop()


def test_a_damaged_model_inside_the_bento_is_refused(start_server, built):
    store = built["tmp"] / "bentoml" / "models" / "relapse-risk-model"
    (artifact,) = store.glob("*/versions/v0001/infusion.onnx")
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    server = _serve(start_server, built, log_name="damaged.log")
    try:
        assert server.get("/livez")[0] == 200
        with pytest.raises(RuntimeError, match="server not ready"):
            server.wait_ready(seconds=8)
        assert "v0001: artifact infusion.onnx does not match its SHA-256" in (
            server.log_path.read_text()
        )
    finally:
        server.stop()
