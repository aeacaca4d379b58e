"""Packaging the service as a bento, and the production model inside it.

The registry stays the source of truth: a registry version is copied verbatim (hashes and
integrity digest included) into BentoML's model store as a one-version registry, and the
bento names it under MODEL_ALIAS. The service then loads it through `Registry.load`, so the
same integrity check runs whether the model comes from a shared registry or from the bento.
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path

import bentoml
import yaml
from bentoml.exceptions import NotFound

from model_registry.registry import Registry
from serving.config import MODEL_ALIAS

MODEL_NAME = "relapse-risk-model"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What the service imports from outside the standard library and BentoML (which brings
# pydantic and starlette): the bento's runtime environment, pinned by `build_bento`.
RUNTIME_PACKAGES = ("numpy", "pandas", "onnxruntime", "onnx")


def store_model(registry: Registry, version: str | None = None) -> bentoml.Model:
    """Copy a registry version (default: production) into BentoML's model store.

    The model's tag is `relapse-risk-model:<version>-<first 12 hex of its integrity digest>`,
    so two registries' v0001 never collide; storing the same version twice returns the model
    already there.
    """
    loaded = registry.load(version)
    tag = f"{MODEL_NAME}:{loaded.version}-{loaded.metadata['integrity'][:12]}"
    try:
        return bentoml.models.get(tag)
    except NotFound:
        pass
    with bentoml.models.create(
        tag,
        labels={"registry_version": loaded.version},
        metadata={
            "integrity": loaded.metadata["integrity"],
            "registry": str(registry.root.resolve()),
        },
    ) as model:
        registry.export_version(loaded.version, model.path)
    return model


def build_bento(
    registry: Registry | None = None, version: str | None = None, with_model: bool = True
) -> tuple[bentoml.Bento, bentoml.Model | None]:
    """`bentoml build` from the project's bentofile.yaml, with the runtime packages pinned to
    the versions installed here and, when `with_model`, the registry version inside."""
    config = yaml.safe_load((PROJECT_ROOT / "bentofile.yaml").read_text())
    config["python"]["packages"] = [
        f"{name}=={metadata.version(name)}" for name in RUNTIME_PACKAGES
    ]
    model = None
    if with_model:
        model = store_model(registry or Registry(), version)
        config["models"] = [{"tag": str(model.tag), "alias": MODEL_ALIAS}]
        config.setdefault("labels", {})["registry_version"] = model.info.labels["registry_version"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="bentofile-") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
        handle.flush()
        bento = bentoml.bentos.build_bentofile(handle.name, build_ctx=str(PROJECT_ROOT))
    return bento, model
