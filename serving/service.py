"""The BentoML service: scores patients with the registry's production model (ONNX only).

Owns the HTTP surface and nothing else: validation and encoding come from `features/`, the
model from `model_registry/`. A background thread follows the registry's production pointer,
so promoting or rolling back switches the served model without a restart; requests in
flight keep the model they started with.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Annotated, Any

import bentoml
from bentoml.validators import ContentType
from pydantic import ConfigDict, Field
from starlette.responses import JSONResponse

from batch.csv_scoring import InputFileError, errors_path_for
from batch.csv_scoring import score_csv as batch_score_csv
from features.errors import FieldError, SchemaError
from features.mapping import MappingError
from features.schema import AUTO, PROGRESSION, RESEARCH_USE_NOTICE
from features.text import escape
from features.validate import check_landmark, check_record
from model_registry.mappings import MappingNotFound, MappingStore, StoredMapping
from model_registry.registry import Registry, RegistryError
from model_registry.scoring import (
    CAUSE_COLUMNS,
    DYNAMIC_COLUMNS,
    NoProgressionModel,
    ScoringModel,
)
from serving import bentoml_patches
from serving.calculator import build_app as build_calculator
from serving.config import ConfigError, load_settings
from serving.middleware import PARSED_KEY, TIMED_OUT_KEY, Guard, body_timeout_message
from serving.schemas import (
    BatchItem,
    BatchResult,
    Curve,
    ItemError,
    OsCurve,
    Patient,
    RiskGroup,
    Score,
)

logger = logging.getLogger("relapse_risk.service")
bentoml_patches.apply()


class _Unvalidated(bentoml.IODescriptor):
    """Input specs whose schema documents the API but whose values reach our own validation
    untouched (pydantic errors would be logged with the input and answered in another form)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    @classmethod
    async def from_http_request(cls, request, serde):
        data = request.scope.get("state", {}).get(PARSED_KEY)
        if data is None:  # the guard has checked JSON and shape; normally it also parsed it
            data = json.loads(await request.body())
        return cls.model_construct(**data)


class UploadError(str):
    """Stands in for the upload when the multipart body could not be parsed or did not
    arrive in time; `status` is the answer's HTTP status."""

    def __new__(cls, message: str, status: int = 400):
        self = super().__new__(cls, message)
        self.status = status
        return self


class CsvInput(bentoml.IODescriptor):
    file: Annotated[Path, ContentType("text/csv")]
    landmark: str = AUTO
    # The name of a mapping stored in the registry (`relapse-risk mapping add`): the upload
    # is then a registry export read through it. Without one, a CSV of canonical columns.
    mapping: str | None = Field(
        None,
        description=(
            "the name of a mapping stored in the service's registry (`relapse-risk mapping add`); "
            "the upload is then a registry export read through it"
        ),
    )

    @classmethod
    async def from_http_request(cls, request, serde):
        try:
            return await super().from_http_request(request, serde)
        except Exception as exc:  # noqa: BLE001 - a malformed upload is the client's error
            timed_out = request.scope.get("state", {}).get(TIMED_OUT_KEY)
            if timed_out is not None:
                return cls.model_construct(
                    file=UploadError(body_timeout_message(timed_out), 408),
                    landmark=AUTO,
                    mapping=None,
                )
            return cls.model_construct(
                file=UploadError(
                    f"the upload could not be read as multipart/form-data with a 'file' field "
                    f"({type(exc).__name__})"
                ),
                landmark=AUTO,
                mapping=None,
            )


class ScoreInput(_Unvalidated):
    patient: Patient


class BatchInput(_Unvalidated):
    patients: list[Patient]


def _error_response(status: int, error: str, errors: list[dict] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": error, "errors": errors or [], "notice": RESEARCH_USE_NOTICE}, status_code=status
    )


def _landmark_and_record(patient: Any) -> tuple[str, dict]:
    if not isinstance(patient, dict):
        raise SchemaError([FieldError(None, "patient", "", "must be a JSON object")])
    record = dict(patient)
    return check_landmark(record.pop("landmark", None)), record


def _shown(value: str, limit: int = 200) -> str:
    """A client's value as an error item shows it: escaped, at most `limit` characters."""
    return escape(value, limit)


def _field_errors(exc: Exception) -> list[dict]:
    return [
        {"field": e.field, "value": e.value, "error": e.error} for e in getattr(exc, "errors", [])
    ]


def _configure_logging() -> None:
    """Our loggers (access lines, model switches) to stderr at INFO, once per process."""
    # No caller lookup per record (our format has no file or line): the logging docs'
    # "Optimization" advice; it is a stack walk on every access line otherwise.
    logging._srcfile = None
    root = logging.getLogger("relapse_risk")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s [%(levelname)s] [%(name)s] %(message)s")
        )
        root.addHandler(handler)
        # RELAPSE_RISK_LOG_LEVEL=DEBUG for more; no level logs a body, identifier or value.
        root.setLevel(os.environ.get("RELAPSE_RISK_LOG_LEVEL", "INFO").upper())
        root.propagate = False


@bentoml.asgi_app(build_calculator(), path="/app", name="calculator")
@bentoml.service(
    name="relapse-risk",
    workers=1,
    # Above the body timeout (120 s), so a slow upload gets our 408 and not BentoML's 504;
    # long enough to score a CSV at the upload limit.
    traffic={"timeout": 600, "max_concurrency": 256},
    logging={"access": {"enabled": False}},
)
class RelapseRisk:
    """CAR-T relapse/progression risk (research use only)."""

    def __init__(self) -> None:
        _configure_logging()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self.settings = load_settings()
            except ConfigError as exc:
                logger.error("cannot start: %s", exc)
                raise
        for warning in caught:
            logger.warning("%s", warning.message)
        self.registry = Registry(self.settings.registry)
        self.mappings = MappingStore(self.registry)
        self.model: ScoringModel | None = None
        self._bulk: ScoringModel | None = None
        self._bulk_lock = threading.Lock()
        self._stage_mtime = None
        self._reload()
        self._stop = threading.Event()
        threading.Thread(
            target=self._follow_registry, name="registry-follower", daemon=True
        ).start()

    # -- model lifecycle -------------------------------------------------------------------
    def _reload(self) -> None:
        try:
            production = self.registry.production()
            if production is None or (self.model and self.model.version == production):
                return
            model = ScoringModel(self.registry.load(production))
        except RegistryError as exc:
            # Keep serving what we have; a damaged version is never swapped in.
            logger.error("model not (re)loaded: %s", exc)
            return
        except Exception as exc:  # noqa: BLE001 - the follower thread must not die
            logger.error("model not (re)loaded: %s", type(exc).__name__)
            return
        previous = self.model.version if self.model else None
        self.model = model  # one reference swap: requests in flight keep their model
        logger.info(
            "serving model %s (was %s) from %s %s",
            model.version,
            previous,
            "the model the bento carries at"
            if self.settings.model_source == "bento"
            else "the registry at",
            self.registry.root,
        )

    def _follow_registry(self) -> None:
        stage_file = self.registry.root / "stages.json"
        while not self._stop.wait(self.settings.reload_seconds):
            try:
                mtime = stage_file.stat().st_mtime_ns
            except OSError:
                continue
            if mtime != self._stage_mtime:
                self._stage_mtime = mtime
                self._reload()

    def __is_ready__(self) -> bool:
        return self.model is not None

    # -- scoring -----------------------------------------------------------------------------
    def _score_one(self, model: ScoringModel, patient: Any) -> Score:
        landmark, record = _landmark_and_record(patient)
        typed = check_record(record)
        result = model.score_record(typed, landmark)
        low, high = model.landmarks[result["landmark"]].thresholds_12m
        if result["landmark"] == PROGRESSION:
            return _progression_score(typed, result, low, high)
        return Score(
            patient_id=typed["patient_id"],
            risk_6m=result["risk_6m"],
            risk_12m=result["risk_12m"],
            risk_24m=result["risk_24m"],
            **{column: result[column] for column in CAUSE_COLUMNS},
            cure_probability=result["cure_probability"],
            **{column: result.get(column) for column in DYNAMIC_COLUMNS},
            curve=Curve(**result["curve"]),
            risk_group=RiskGroup(name=result["risk_group"], thresholds_12m=[low, high]),
            contributions=result["contributions"] or {},
            missing_predictors=result["missing_predictors"],
            landmark=result["landmark"],
            model_version=result["model_version"],
            notice=RESEARCH_USE_NOTICE,
        )

    @bentoml.api(input_spec=ScoreInput, route="/score")
    async def score(self, patient: Patient) -> Score:
        """Score one patient: risk at 6/12/24 months, group, contributions, missing predictors."""
        model = self.model
        if model is None:
            return _error_response(503, "no production model is loaded yet")
        try:
            return self._score_one(model, patient)
        except SchemaError as exc:
            return _error_response(422, "invalid patient", _field_errors(exc))
        except NoProgressionModel as exc:
            return _error_response(
                422, str(exc), [{"field": "landmark", "value": PROGRESSION, "error": str(exc)}]
            )
        except Exception as exc:  # noqa: BLE001 - never a traceback with patient data
            logger.error("scoring failed: %s", type(exc).__name__)
            return _error_response(500, "scoring failed; see the server log")

    @bentoml.api(input_spec=BatchInput, route="/score_batch")
    def score_batch(self, patients: list[Patient]) -> BatchResult:
        """Score up to the batch limit; an invalid item gets its errors, the others their score."""
        model = self.model
        if model is None:
            return _error_response(503, "no production model is loaded yet")
        items, scored = [], 0
        for index, patient in enumerate(patients):
            try:
                items.append(BatchItem(index=index, score=self._score_one(model, patient)))
                scored += 1
            except SchemaError as exc:
                items.append(
                    BatchItem(
                        index=index,
                        errors=[
                            ItemError(field=e.field, value=e.value, error=e.error)
                            for e in exc.errors
                        ],
                    )
                )
            except NoProgressionModel as exc:
                items.append(
                    BatchItem(
                        index=index,
                        errors=[ItemError(field="landmark", value=PROGRESSION, error=str(exc))],
                    )
                )
            except Exception as exc:  # noqa: BLE001 - one item never fails the batch; no values
                logger.error("scoring a batch item failed: %s", type(exc).__name__)
                items.append(
                    BatchItem(
                        index=index,
                        errors=[
                            ItemError(
                                field="patient",
                                value="",
                                error="could not be scored; see the server log",
                            )
                        ],
                    )
                )
        return BatchResult(
            results=items,
            scored=scored,
            rejected=len(items) - scored,
            model_version=model.version,
            notice=RESEARCH_USE_NOTICE,
        )

    @bentoml.api(route="/score_csv", input_spec=CsvInput)
    def score_csv(
        self,
        file: Annotated[Path, ContentType("text/csv")],
        landmark: str = AUTO,
        mapping: str | None = None,
        ctx: bentoml.Context = None,
    ) -> Path:
        """Score an uploaded CSV with the batch scorer; a zip of scored.csv, errors.csv (one
        line per problem) and summary.json comes back. `mapping` names a mapping stored in
        the registry (`relapse-risk mapping add`): the upload is then a registry export read
        through it; without it, the CSV's columns are the canonical ones."""

        def error(status: int, message: str, errors: list | None = None) -> JSONResponse:
            ctx.response.status_code = status  # BentoML applies the context's status
            return _error_response(status, message, errors)

        if isinstance(file, UploadError):
            return error(file.status, str(file))
        if not isinstance(file, Path) or not file.exists():
            return error(
                422,
                "invalid request",
                [{"field": "file", "value": "", "error": "a CSV file is required"}],
            )
        model = self.bulk_model()
        if model is None:
            return error(503, "no production model is loaded yet")
        try:
            landmark = check_landmark(landmark)
        except SchemaError as exc:
            return error(422, "invalid request", _field_errors(exc))
        stored = None
        if mapping is not None:
            stored = self._stored_mapping(mapping)
            if isinstance(stored, str):
                return error(
                    422,
                    "invalid request",
                    [{"field": "mapping", "value": _shown(mapping), "error": stored}],
                )
        work = Path(ctx.temp_dir)
        scored = work / "scored.csv"
        try:
            # Messages name "the upload", never this server's temporary path.
            summary = batch_score_csv(
                file,
                scored,
                model,
                landmark=landmark,
                name="the upload",
                mapping=stored.mapping if stored else None,
            )
        except (InputFileError, SchemaError) as exc:
            errors = getattr(exc, "errors", [])
            return error(422, str(exc) if not errors else "invalid CSV header", _field_errors(exc))
        except MappingError as exc:  # the upload lacks a column the named mapping reads
            return error(
                422,
                f"the upload does not fit mapping {stored.name!r}",
                [{"field": "file", "value": "", "error": problem} for problem in exc.problems],
            )
        archive = work / "scored.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(scored, "scored.csv")
            zf.write(errors_path_for(scored), "errors.csv")
            zf.writestr(
                "summary.json",
                json.dumps(
                    {
                        "rows_read": summary.rows_read,
                        "scored": summary.scored,
                        "rejected": summary.rejected,
                        "model_version": model.version,
                        "mapping": stored.record if stored else None,
                        "passed_through": summary.passed_through,
                        "notice": RESEARCH_USE_NOTICE,
                    }
                ),
            )
        return archive

    def _stored_mapping(self, name: str) -> StoredMapping | str:
        """The named mapping, verified, or why it cannot be used (the `mapping` field's
        error). Nothing the client sent is logged."""
        try:
            return self.mappings.load(name)
        except MappingNotFound as exc:
            return str(exc)
        except RegistryError as exc:  # damaged: reported, never a 5xx or a traceback
            logger.error(
                "a stored mapping was asked for and failed its checks "
                "(`relapse-risk mapping list` names it)"
            )
            return (
                f"the stored mapping failed its checks and is not used ({exc}); its "
                "keeper can store a good copy under a new name"
            )

    def bulk_model(self) -> ScoringModel | None:
        """The production model with bulk sessions (built once per version, on first use)."""
        model = self.model
        if model is None:
            return None
        with self._bulk_lock:
            if self._bulk is None or self._bulk.version != model.version:
                self._bulk = ScoringModel(self.registry.load(model.version), bulk=True)
            return self._bulk

    @bentoml.api(route="/model")
    def model_info(self) -> dict:
        """Production model metadata and model card."""
        model = self.model
        if model is None:
            return _error_response(503, "no production model is loaded yet")
        meta = model.describe()
        card = self.registry.file(model.version, "model_card.md").decode()
        landmarks = {
            lm: {
                k: info[k]
                for k in (
                    "family",
                    "champion_reason",
                    "feature_names",
                    "horizons_months",
                    "risk_group_thresholds_12m",
                    "metrics",
                    "contributions",
                    "population_pfs",
                    "baseline",
                )
            }
            for lm, info in meta["landmarks"].items()
        }
        progression = meta.get("progression") or {"absent": model.progression_absent}
        if "absent" not in progression:
            progression = {
                k: progression[k]
                for k in (
                    "family",
                    "champion_reason",
                    "feature_names",
                    "horizons_months",
                    "risk_group_thresholds_6m",
                    "metrics",
                    "pcpi_comparison",
                    "population_os",
                )
            }
        return {
            "model_version": model.version,
            "created": meta["created"],
            "schema_version": meta["schema_version"],
            "cohort": meta["cohort"],
            "landmarks": landmarks,
            "progression": progression,
            "model_card": card,
            "notice": RESEARCH_USE_NOTICE,
        }


def _progression_score(typed: dict, result: dict, low: float, high: float) -> Score:
    """A score at progression: death by 3/6/12 months, median OS, PC-PI and the OS curve."""
    pc = result["pcpi"]
    return Score(
        patient_id=typed["patient_id"],
        **{k: result[k] for k in ("death_3m", "death_6m", "death_12m", "median_os_months")},
        pcpi_points=pc["points"],
        pcpi_group=pc["group"],
        pcpi_unknown_factors=pc["unknown_factors"],
        os_curve=OsCurve(**result["os_curve"]),
        curve=Curve(months=[], event_free=[]),
        risk_group=RiskGroup(
            name=result["risk_group"], thresholds_12m=[low, high], horizon_months=6.0
        ),
        contributions=result["contributions"] or {},
        missing_predictors=result["missing_predictors"],
        landmark=PROGRESSION,
        model_version=result["model_version"],
        notice=RESEARCH_USE_NOTICE,
    )


RelapseRisk.add_asgi_middleware(Guard, settings_loader=load_settings)
