"""The web calculator, end to end in a real headless Chromium (Debian's, driven by Playwright)
against a really served instance: numbers shown equal the API's, field errors sit beside
their fields, the key is asked once per browser session, nothing is fetched from elsewhere.

Screenshots of both results are written to test-artifacts/ (or $RELAPSE_RISK_TEST_ARTIFACTS).
"""

import math
import os
import shutil
from pathlib import Path

import pytest

from features.schema import FIELDS

KEY = "calculator-test-key"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("RELAPSE_RISK_TEST_ARTIFACTS", ROOT / "test-artifacts"))
# Chromium as root in a closed network: no sandbox, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

HIGH = {
    "patient_id": "HIGH-1",
    "age_years": "67",
    "ecog": "1",
    "stage": "4",
    "extranodal_sites": "2",
    "ldh_u_l": "410",
    "ldh_uln_u_l": "250",
    "tmtv_ml": "150",
    "tp53_status": "altered",
    "prior_lines": "4",
    "bridging_therapy": "chemotherapy",
}
LOW = {
    "patient_id": "LOW-1",
    "age_years": "45",
    "ecog": "0",
    "stage": "2",
    "extranodal_sites": "0",
    "ldh_u_l": "180",
    "ldh_uln_u_l": "250",
    "tmtv_ml": "12.5",
    "tp53_status": "wild_type",
    "prior_lines": "1",
    "bridging_therapy": "none",
    "ctdna_d28": "undetectable",
    "cart_cmax_per_ul": "48",
}
CATEGORIES = {f.name for f in FIELDS if f.kind == "category"}
NUMERIC = {f.name: f.kind for f in FIELDS if f.kind in ("integer", "number")}


def _chromium() -> str:
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not path:
        pytest.fail(
            "Chromium is needed for the browser tests: `make test` installs Debian's "
            "chromium; or set CHROMIUM to a Chromium binary"
        )
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory, start_server, trained):
    registry, _, _ = trained
    srv = start_server(registry.root, tmp_path_factory.mktemp("calculator"), KEY)
    srv.wait_ready()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, served):
    """A fresh browser session on the calculator, every request it makes recorded."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.requested = []
    page.errors = []
    page.on("request", lambda r: page.requested.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(served.url + "/app/")
    yield page
    context.close()
    assert page.errors == []  # no script error on any page


def _enter_key(page, key=KEY):
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")


def _fill(page, patient: dict):
    for name, value in patient.items():
        if name in CATEGORIES:
            page.select_option(f"#f-{name}", value)
        else:
            page.fill(f"#f-{name}", value)


def _as_json(patient: dict) -> dict:
    out = {}
    for name, value in patient.items():
        if name in NUMERIC:
            value = int(value) if NUMERIC[name] == "integer" else float(value)
        out[name] = value
    return out


def _percent(p: float) -> str:
    """One decimal; a near-certainty is not rounded to a certainty."""
    if 0.999 < p < 1:
        return ">99.9%"
    return "<0.1%" if 0 < p < 0.001 else f"{100 * p:.1f}%"


def _icon_counts(relapse: float, nrm: float) -> dict[str, int]:
    """Whole patients out of 100 by largest remainder (ties to the earlier outcome)."""
    exact = [100 * relapse, 100 * nrm, 100 * max(0.0, 1 - relapse - nrm)]
    counts = [math.floor(v) for v in exact]
    for i in sorted(range(3), key=lambda i: (-(exact[i] - counts[i]), i))[: 100 - sum(counts)]:
        counts[i] += 1
    return dict(zip(("relapse", "nrm", "alive"), counts))


def _shown(page, selector) -> float:
    return float(page.get_attribute(selector, "data-value"))


@pytest.mark.parametrize("name,patient,group", [("high", HIGH, "high"), ("low", LOW, "low")])
def test_the_numbers_shown_equal_the_api_answer(page, served, name, patient, group):
    _enter_key(page)
    page.wait_for_selector("#patient-form:not([hidden])")
    _fill(page, patient)
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    status, api, _ = served.post("/score", {"patient": _as_json(patient)})
    assert status == 200, api
    assert api["risk_group"]["name"] == group  # the two patients span the scale
    for h in (6, 12, 24):
        risk = api[f"risk_{h}m"]
        assert _shown(page, f"#risk-{h}") == risk  # the same number, not a recomputation
        assert page.inner_text(f"#risk-{h}") == _percent(risk)
        # The plotted curve at h, from the baseline and the 12-month risk, is 1 - risk(h):
        # the service computes in float32 (relative precision ~1e-7), hence 1e-5.
        assert _shown(page, f"#pfs-{h}") == pytest.approx(1 - risk, abs=1e-5)
        for cause in ("relapse", "nrm"):
            assert _shown(page, f"#{cause}-{h}") == api[f"{cause}_{h}m"]
            assert page.inner_text(f"#{cause}-{h}") == _percent(api[f"{cause}_{h}m"])
        assert api[f"relapse_{h}m"] + api[f"nrm_{h}m"] == pytest.approx(risk, abs=1e-6)
    # The icon array: 100 patients split by the API's 12-month incidences.
    counts = _icon_counts(api["relapse_12m"], api["nrm_12m"])
    for kind, count in counts.items():
        assert int(page.get_attribute(f"#icons-{kind}", "data-count")) == count
        assert page.locator(f"#icons .icon.{kind}").count() == count
    assert page.inner_text("#risk-group") == group
    assert page.inner_text("#landmark") == (
        "day 28" if "ctdna_d28" in patient else "infusion (day 0)"
    )
    assert page.inner_text("#model-version") == api["model_version"]
    assert page.inner_text("#missing") == (", ".join(api["missing_predictors"]) or "none")
    bars = page.eval_on_selector_all(
        ".contribution", "els => els.map(e => [e.dataset.field, Number(e.dataset.value)])"
    )
    assert dict(bars) == api["contributions"]
    assert [abs(v) for _, v in bars] == sorted((abs(v) for _, v in bars), reverse=True)
    assert "research use only" in page.inner_text("#result-notice").lower()
    population = served.post("/model")[1]["landmarks"][api["landmark"]]["population_pfs"]
    assert _shown(page, "#pop-12") == population["pfs"][population["months"].index(12.0)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"calculator-{name}.png"), full_page=True)


def test_an_invalid_value_shows_the_services_error_beside_its_field(page, served):
    _enter_key(page)
    _fill(page, {**HIGH, "prior_lines": "0", "age_years": "sixty"})
    page.click("#submit")
    page.wait_for_selector("#err-prior_lines:not(:empty)")
    _, api, _ = served.post(
        "/score", {"patient": {**_as_json({**HIGH, "prior_lines": "0"}), "age_years": "sixty"}}
    )
    expected = {e["field"]: e["error"] for e in api["errors"]}
    assert set(expected) == {"prior_lines", "age_years"}
    for field, error in expected.items():
        assert page.inner_text(f"#err-{field}") == error
        assert page.get_attribute(f"#f-{field}", "aria-invalid") == "true"
    assert page.is_hidden("#result")  # no earlier or partial answer is left on show
    page.fill("#f-prior_lines", "2")
    page.fill("#f-age_years", "60")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    assert page.inner_text("#err-prior_lines") == ""


def test_the_page_requests_nothing_outside_the_service(page, served):
    _enter_key(page)
    _fill(page, LOW)
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    assert page.requested, "no request was recorded"
    outside = [
        u
        for u in page.requested
        if not u.startswith(served.url + "/") and not u.startswith("data:")
    ]
    assert outside == []
    assert {u.rsplit("/", 1)[-1] for u in page.requested} >= {
        "",
        "app.js",
        "app.css",
        "model",
        "score",
    }
    policy = served.request("GET", "/app/", key=None)[2]["content-security-policy"]
    assert "connect-src 'self'" in policy and "default-src 'none'" in policy


def test_the_key_is_asked_once_per_browser_session(page, browser, served):
    _enter_key(page, "wrong-key")
    page.wait_for_selector("#key-error:not(:empty)")
    assert "refused" in page.inner_text("#key-error")
    assert page.is_hidden("#patient-form")
    _enter_key(page)
    page.wait_for_selector("#patient-form:not([hidden])")
    page.reload()  # same session: not asked again
    page.wait_for_selector("#patient-form:not([hidden])")
    assert page.is_hidden("#key-section")
    other = browser.new_context()  # a new session is asked again
    fresh = other.new_page()
    fresh.goto(served.url + "/app/")
    assert fresh.is_visible("#api-key") and fresh.is_hidden("#patient-form")
    other.close()
    page.click("#forget-key")
    assert page.is_visible("#api-key")
    assert page.evaluate("sessionStorage.length") == 0


def test_the_form_comes_from_the_feature_schema(page):
    _enter_key(page)
    page.wait_for_selector("#patient-form:not([hidden])")
    names = page.eval_on_selector_all("#groups [name]", "els => els.map(e => e.name)")
    inputs = [f for f in FIELDS if f.role != "outcome" and f.landmark != "progression"]
    assert names == [f.name for f in inputs]
    at_progression = page.eval_on_selector_all(
        "#progression-groups [name]", "els => els.map(e => e.name)"
    )
    assert at_progression == [
        f.name
        for f in FIELDS
        if f.landmark == "progression" or f.name in ("age_years", "prior_lines")
    ]
    for f in inputs:
        if f.kind in ("integer", "number"):
            assert f.describe_range() in page.inner_text(f"#hint-{f.name}")
        if f.kind == "category":
            options = page.eval_on_selector_all(
                f"#f-{f.name} option", "els => els.map(e => e.value)"
            )
            assert options == ["", *f.categories]  # "" is "unknown"


def test_accessible_by_keyboard_and_at_a_phones_width(page, served):
    _enter_key(page)
    page.wait_for_selector("#patient-form:not([hidden])")
    unlabelled = page.eval_on_selector_all(
        "input, select", "els => els.filter(e => !e.hidden && e.labels.length === 0).map(e => e.id)"
    )
    assert unlabelled == []
    # Keyboard only: type into the focused field, Tab to the next, Enter submits.
    page.focus("#f-patient_id")
    page.keyboard.type("KBD-1")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-age_years"
    page.keyboard.type("64")
    page.keyboard.press("Enter")
    page.wait_for_selector("#result:not([hidden])")
    assert page.inner_text("#landmark") == "infusion (day 0)"
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375  # no sideways scroll
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "calculator-phone.png"))


def test_the_pfs_curve_is_drawn_for_the_patient_and_the_population(page):
    _enter_key(page)
    _fill(page, HIGH)
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    for cls in ("patient", "population"):
        points = page.get_attribute(f"#curve polyline.{cls}", "points").split()
        ys = [float(p.split(",")[1]) for p in points]
        assert len(points) > 10 and all(math.isfinite(y) for y in ys)
        assert ys == sorted(ys)  # a survival curve never rises (SVG y grows downwards)


AT_PROGRESSION = {
    "progression_months": "2.5",
    "ecog_at_progression": "2",
    "ldh_at_progression_u_l": "700",
    "ldh_uln_at_progression_u_l": "250",
    "haemoglobin_at_progression_g_dl": "9.1",
    "extranodal_sites_at_progression": "3",
    "cd19_at_progression": "low",
    "age_years": "66",
    "prior_lines": "3",
}


def test_the_progression_tab_shows_the_apis_survival_pcpi_and_the_evidence(page, served):
    _enter_key(page)
    page.wait_for_selector("#patient-form:not([hidden])")
    page.click("#tab-progression")
    page.wait_for_selector("#progression-form:not([hidden])")
    for name, value in AT_PROGRESSION.items():
        if name in CATEGORIES:
            page.select_option(f"#pf-{name}", value)
        else:
            page.fill(f"#pf-{name}", value)
    page.click("#progression-submit")
    page.wait_for_selector("#progression-result:not([hidden])")
    api = served.post(
        "/score", {"patient": {**_as_json(AT_PROGRESSION), "landmark": "progression"}}
    )[1]
    for h in (3, 6, 12):
        assert _shown(page, f"#death-{h}") == pytest.approx(api[f"death_{h}m"], abs=1e-9)
        assert page.inner_text(f"#death-{h}") == _percent(api[f"death_{h}m"])
    assert page.inner_text("#pcpi-group") == api["pcpi_group"] == "high"
    assert page.locator("#os-curve polyline").count() == 2  # patient and population
    contributions = page.eval_on_selector_all(
        "#progression-contributions .contribution", "els => els.map(e => e.dataset.field)"
    )
    assert set(contributions) == set(api["contributions"])
    salvage = page.inner_text("#salvage")
    assert "not a recommendation" in salvage
    assert "Blood Adv 2025" in salvage and "n = 514" in salvage
    assert page.inner_text("#salvage-rows").count("\n") >= 5  # every option, one row each
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "calculator-progression.png"), full_page=True)
    # an invalid value sits beside its field
    page.fill("#pf-haemoglobin_at_progression_g_dl", "94")
    page.click("#progression-submit")
    page.wait_for_selector("#perr-haemoglobin_at_progression_g_dl:not(:empty)")
    assert page.get_attribute("#pf-haemoglobin_at_progression_g_dl", "aria-invalid") == "true"
