"""The wheel as a user installs it: built from a copy of the source tree, installed into a
fresh virtual environment outside the repository, and run from there: `calibrate` (the
generator and its evidence files) and the calculator page with its assets (the serving
static files).

The fresh environment has the wheel alone as its own package. The runtime dependencies are
the project environment's, added to its path by a `.pth` line: a path line puts that folder on
the path without running the `.pth` files inside it, so the editable install's finder (which
would map `features`, `serving`... back to the repository) is never installed. Installing the
dependencies again would take minutes and reach the package index; the bento test
(test_bento.py) does that for the serving stack.
"""

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "relapse_risk",
    "features",
    "synthetic",
    "training",
    "model_registry",
    "serving",
    "batch",
)
PATIENT = {
    "patient_id": "W-1",
    "age_years": 70,
    "stage": 3,
    "prior_lines": 2,
    "bridging_therapy": "none",
}
# Not part of a source distribution: environments, caches, build output and local data.
NOT_SOURCE = {
    ".venv",
    ".git",
    "site",
    "build",
    "dist",
    ".hypothesis",
    ".ruff_cache",
    ".pytest_cache",
    "__pycache__",
    "registry",
    "data",
    "evaluation",
}


def _run(command, **kw):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kw)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def _source_copy(target: Path) -> Path:
    def ignore(folder, names):
        top = Path(folder) == ROOT
        return {
            n
            for n in names
            if n.endswith(".egg-info") or n == "__pycache__" or (top and n in NOT_SOURCE)
        }

    shutil.copytree(ROOT, target, ignore=ignore)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    source = _source_copy(tmp / "source")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp / "dist"),
            str(source),
        ],
        cwd=tmp,
    )
    (wheel,) = (tmp / "dist").glob("relapse_risk-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        cwd=tmp,
    )
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).strip()
    )
    (site / "runtime-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    outside = tmp / "elsewhere"
    outside.mkdir()
    env = {
        "PATH": f"{env_dir / 'bin'}:/usr/bin:/bin",
        "PYTHONPATH": "",
        "VIRTUAL_ENV": str(env_dir),
        "HOME": str(tmp / "home"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    return {
        "tmp": tmp,
        "wheel": wheel,
        "site": site,
        "python": python,
        "env": env,
        "outside": outside,
    }


def test_the_wheel_carries_every_package_and_its_data(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, package
    for data in (
        "serving/static/calculator.html",
        "synthetic/data/generator_params.json",
        "features/data/salvage.json",
    ):
        assert data in names, data
    assert not any(n.startswith("tests/") for n in names)


def test_the_packages_import_from_the_installed_wheel(installed):
    out = _run(
        [
            str(installed["python"]),
            "-c",
            "import importlib; print('\\n'.join(importlib.import_module(p).__file__ for p in "
            f"{PACKAGES!r}))",
        ],
        env=installed["env"],
        cwd=installed["outside"],
    )
    files = [Path(line) for line in out.split()]
    assert len(files) == len(PACKAGES)
    for file in files:
        assert file.is_relative_to(installed["site"]), file


def test_calibrate_runs_from_the_wheel(installed):
    command = installed["python"].parent / "relapse-risk"
    out = _run([str(command), "calibrate"], env=installed["env"], cwd=installed["outside"])
    passed = re.search(r"(\d+) of (\d+) checks passed \(n = 20000, seed = 1\)", out)
    assert passed and passed[1] == passed[2] and int(passed[2]) > 50, out[-2000:]


def test_the_calculator_page_is_served_from_the_wheel(installed, start_server):
    server = start_server(
        installed["tmp"] / "empty-registry",
        installed["tmp"],
        "wheel-key-3",
        installed["env"],
        bentoml=[str(installed["python"]), "-m", "bentoml"],
        cwd=installed["outside"],
        log_name="wheel-server.log",
    )
    try:
        status, page, _ = server.get("/app/")
        assert status == 200
        assert b"__SCHEMA_JSON__" not in page and b"research" in page.lower()
        for asset in ("app.js", "app.css"):
            status, body, _ = server.get(f"/app/{asset}")
            assert status == 200 and body, asset
        # No model in this registry: scoring answers 503 with the notice, not a crash.
        status, body, _ = server.post("/score", {"patient": PATIENT})
        assert status == 503, body
        assert "research" in str(body).lower()
    finally:
        server.stop()
