"""BentoML's own clients (SyncHTTPClient, AsyncHTTPClient) on every endpoint, and the
Prometheus metrics, against a really served instance."""

import asyncio
import json
import urllib.request
import zipfile

import bentoml
import pytest
from bentoml.exceptions import BentoMLException
from prometheus_client.parser import text_string_to_metric_families

from model_registry.registry import Registry

KEY = "client-test-key-42"
PATIENT = {
    "patient_id": "C-1",
    "age_years": 66,
    "ecog": 1,
    "stage": 4,
    "extranodal_sites": 2,
    "ldh_u_l": 410,
    "ldh_uln_u_l": 250,
    "tmtv_ml": 120,
    "tp53_status": "altered",
    "prior_lines": 3,
    "bridging_therapy": "chemotherapy",
}
CSV = "patient_id,age_years,prior_lines,tp53_status\nA,60,2,altered\nB,abc,0,wild_type\n"
ENDPOINTS = {"score", "score_batch", "score_csv", "model_info"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, start_server, trained, copy_version):
    source, version, _ = trained
    tmp = tmp_path_factory.mktemp("clients")
    target = Registry(tmp / "registry")
    target.promote(copy_version(source, version, target))
    srv = start_server(target.root, tmp, KEY)
    srv.wait_ready()
    yield srv
    srv.stop()


@pytest.fixture
def export_csv(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV)
    return path


def _check_score(score: dict) -> None:
    assert score["patient_id"] == "C-1" and score["model_version"] == "v0001"
    assert 0 < score["risk_6m"] <= score["risk_12m"] <= score["risk_24m"] < 1
    assert score["risk_group"]["name"] in ("low", "intermediate", "high")
    assert "research use only" in score["notice"].lower()


def _check_batch(batch: dict) -> None:
    assert (batch["scored"], batch["rejected"]) == (1, 1)
    ok, bad = batch["results"]
    assert ok["index"] == 0 and ok["errors"] == [] and ok["score"]["patient_id"] == "C-1"
    assert bad["index"] == 1 and bad["score"] is None
    assert bad["errors"] == [
        {"field": "prior_lines", "value": "0", "error": "must be an integer from 1 to 15"}
    ]


def _check_archive(path) -> None:
    with zipfile.ZipFile(path) as archive:
        summary = json.loads(archive.read("summary.json"))
        errors = archive.read("errors.csv").decode().splitlines()
    assert (summary["rows_read"], summary["scored"], summary["rejected"]) == (2, 1, 1)
    assert errors[1:] == [
        "2,age_years,abc,must be a number from 0 to 120 years",
        "2,prior_lines,0,must be an integer from 1 to 15",
    ]


def _error_body(exc: BentoMLException) -> dict:
    """The service's JSON error, as the client's exception carries it."""
    return json.loads(str(exc))


def test_sync_client_calls_every_endpoint(server, export_csv):
    with bentoml.SyncHTTPClient(server.url, token=KEY) as client:
        assert set(client.endpoints) == ENDPOINTS
        _check_score(client.score(patient=PATIENT))
        _check_batch(client.score_batch(patients=[PATIENT, {**PATIENT, "prior_lines": 0}]))
        _check_archive(client.score_csv(file=export_csv))
        info = client.model_info()
        assert info["model_version"] == "v0001" and "Model card" in info["model_card"]
        # at progression: null PFS risks, empty PFS curve, the OS curve and PC-PI decode
        at_progression = client.score(
            patient={
                "progression_months": 2.0,
                "ecog_at_progression": 0,
                "cd19_at_progression": "negative",
            }
        )
        assert at_progression["landmark"] == "progression"
        assert at_progression["risk_6m"] is None and at_progression["curve"]["months"] == []
        assert at_progression["pcpi_points"] is None  # three of five factors unknown
        assert len(at_progression["os_curve"]["alive"]) == 49


def test_sync_client_gets_the_documented_errors(server, tmp_path):
    with bentoml.SyncHTTPClient(server.url, token=KEY) as client:
        with pytest.raises(BentoMLException) as caught:
            client.score(patient={**PATIENT, "stage": 9, "tp53_status": "mutant"})
        assert caught.value.error_code == 422
        body = _error_body(caught.value)
        assert body["error"] == "invalid patient" and "notice" in body
        assert {e["field"] for e in body["errors"]} == {"stage", "tp53_status"}
        unknown = tmp_path / "unknown.csv"
        unknown.write_text("LDH,age\n300,60\n")
        with pytest.raises(BentoMLException) as caught:
            client.score_csv(file=unknown)
        assert caught.value.error_code == 422
        assert _error_body(caught.value)["errors"][0]["field"] == "LDH"
    with bentoml.SyncHTTPClient(server.url, token="wrong") as client:
        with pytest.raises(BentoMLException) as caught:
            client.score(patient=PATIENT)
        assert caught.value.error_code == 401 and "Bearer" in _error_body(caught.value)["error"]


def test_sync_client_scores_an_export_through_a_named_mapping(server):
    from pathlib import Path

    from model_registry.mappings import MappingStore

    examples = Path(__file__).resolve().parents[2] / "examples"
    registry = Registry(server.log_path.parent / "registry")
    MappingStore(registry).add(
        (examples / "registry_mapping.yaml").read_bytes(),
        name="example-registry",
        source="registry_mapping.yaml",
    )
    with bentoml.SyncHTTPClient(server.url, token=KEY) as client:
        path = client.score_csv(file=examples / "registry_export.csv", mapping="example-registry")
        with zipfile.ZipFile(path) as archive:
            summary = json.loads(archive.read("summary.json"))
        assert (summary["rows_read"], summary["scored"], summary["rejected"]) == (300, 299, 1)
        with pytest.raises(BentoMLException) as caught:
            client.score_csv(file=examples / "registry_export.csv", mapping="no-such-mapping")
        assert caught.value.error_code == 422
        assert _error_body(caught.value)["errors"][0]["field"] == "mapping"


def test_async_client_calls_every_endpoint(server, export_csv):
    async def calls():
        async with bentoml.AsyncHTTPClient(server.url, token=KEY) as client:
            assert set(client.endpoints) == ENDPOINTS
            score, batch, info = await asyncio.gather(
                client.score(patient=PATIENT),
                client.score_batch(patients=[PATIENT, {**PATIENT, "prior_lines": 0}]),
                client.model_info(),
            )
            # Not concurrently with other calls on this client: BentoML 1.4's async client
            # closes every open upload whenever any of its calls ends (README, clients).
            archive = await client.score_csv(file=export_csv)
            with pytest.raises(BentoMLException) as caught:
                await client.score(patient={**PATIENT, "stage": 9})
            return score, batch, archive, info, caught.value

    score, batch, archive, info, error = asyncio.run(calls())
    _check_score(score)
    _check_batch(batch)
    _check_archive(archive)
    assert info["model_version"] == "v0001"
    assert error.error_code == 422 and _error_body(error)["errors"][0]["field"] == "stage"


def _request_total(server, endpoint: str, code: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "bentoml_service_request_total"
                and sample.labels.get("endpoint") == endpoint
                and sample.labels.get("http_response_code") == code
            ):
                return sample.value
    return 0.0


def test_metrics_count_requests_by_endpoint_and_status(server):
    ok_before = _request_total(server, "/score", "200")
    bad_before = _request_total(server, "/score", "422")
    for _ in range(3):
        assert server.post("/score", {"patient": PATIENT})[0] == 200
    assert server.post("/score", {"patient": {**PATIENT, "stage": 9}})[0] == 422
    assert _request_total(server, "/score", "200") == ok_before + 3
    assert _request_total(server, "/score", "422") == bad_before + 1
