// relapse-risk web calculator: builds the form from the embedded feature schema, calls this
// service's /model and /score, and draws the answer. No library, no request elsewhere.
"use strict";

(function () {
  const schema = JSON.parse(document.getElementById("schema").textContent);
  const [INFUSION, DAY28] = schema.landmarks; // the names features/schema.py defines
  const PROGRESSION = schema.progression;
  const AT_PROGRESSION = (f) => f.landmark === PROGRESSION
    || f.name === "age_years" || f.name === "prior_lines";
  const KEY_STORE = "relapse-risk-api-key";
  const HORIZONS = [6, 12, 24];
  const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
  const $ = (id) => document.getElementById(id);
  const endpoint = (name) => new URL("../" + name, location.href.replace(/\/?$/, "/")).href;
  let modelInfo = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const pretty = (code) => code.replace(/_/g, " ");
  // One decimal, without rounding a near-certainty to a certainty.
  const pct = (p) => (p > 0.999 && p < 1 ? ">99.9%" : p < 0.001 && p > 0 ? "<0.1%"
    : (100 * p).toFixed(1) + "%");

  function labelFor(field) {
    const text = field.description.replace(/\.$/, "");
    return field.unit ? `${text} (${field.unit})` : text;
  }

  // ---- the form, from the schema ---------------------------------------------------------
  function fieldControl(field, prefix) {
    const p = prefix || "";
    const id = p + "f-" + field.name;
    const described = `${p}hint-${field.name} ${p}err-${field.name}`;
    let control;
    if (field.kind === "category") {
      control = el("select", { id, name: field.name, "aria-describedby": described },
        el("option", { value: "" }, "unknown"),
        ...field.categories.map((c) => el("option", { value: c }, pretty(c))));
    } else {
      const numeric = field.kind === "integer" || field.kind === "number";
      control = el("input", {
        id, name: field.name, type: "text", autocomplete: "off", placeholder: "unknown",
        inputmode: numeric ? (field.kind === "integer" ? "numeric" : "decimal") : null,
        "aria-describedby": described,
      });
    }
    const hint = field.kind === "string" ? "optional; echoed back, never logged"
      : field.kind === "category" ? "or unknown" : field.valid + ", or empty if unknown";
    return el("div", { class: "field" },
      el("label", { for: id }, labelFor(field), " ", el("code", {}, field.name)),
      control,
      el("p", { class: "help", id: p + "hint-" + field.name }, hint),
      el("p", { class: "error", id: p + "err-" + field.name, role: "alert" }));
  }

  function buildForm() {
    const groups = [
      ["Patient", (f) => f.role === "id"],
      ["Known at infusion (day 0)", (f) => f.landmark === INFUSION],
      ["Known at day 28 (day-28 landmark)", (f) => f.landmark === DAY28],
      ["Still in remission? (optional)", (f) => f.role === "condition"],
    ];
    for (const [title, keep] of groups) {
      const fields = schema.fields.filter(keep);
      $("groups").append(el("fieldset", {}, el("legend", {}, title),
        el("div", { class: "grid" }, ...fields.map((f) => fieldControl(f)))));
    }
    const fields = schema.fields.filter(AT_PROGRESSION);
    $("progression-groups").append(el("fieldset", {}, el("legend", {}, "At progression"),
      el("div", { class: "grid" }, ...fields.map((f) => fieldControl(f, "p")))));
  }

  function collectProgression() {
    const patient = { landmark: PROGRESSION };
    for (const field of schema.fields.filter(AT_PROGRESSION)) {
      const raw = $("pf-" + field.name).value.trim();
      if (raw === "") continue;
      const numeric = field.kind === "integer" || field.kind === "number";
      patient[field.name] = numeric && NUMBER.test(raw) ? Number(raw) : raw;
    }
    return patient;
  }

  function showTab(name) {
    const progression = name === PROGRESSION;
    $("tab-infusion").setAttribute("aria-selected", String(!progression));
    $("tab-progression").setAttribute("aria-selected", String(progression));
    $("patient-form").hidden = progression;
    $("result").hidden = true;
    $("progression-form").hidden = !progression;
    $("progression-result").hidden = true;
  }

  function collectPatient() {
    const patient = {};
    for (const field of schema.fields) {
      if (field.landmark === PROGRESSION) continue; // the other tab's
      const raw = $("f-" + field.name).value.trim();
      if (raw === "") continue; // unknown: absent, and the answer lists it as missing
      const numeric = field.kind === "integer" || field.kind === "number";
      // Anything that is not a plain number goes as typed: the service names the problem.
      patient[field.name] = numeric && NUMBER.test(raw) ? Number(raw) : raw;
    }
    patient.landmark = $("f-landmark").value;
    return patient;
  }

  // ---- talking to the service -------------------------------------------------------------
  async function call(name, body) {
    const response = await fetch(endpoint(name), {
      method: "POST",
      headers: { "Content-Type": "application/json",
                 Authorization: "Bearer " + sessionStorage.getItem(KEY_STORE) },
      body: body === undefined ? "" : JSON.stringify(body),
    });
    let payload = null;
    try { payload = await response.json(); } catch (e) { payload = null; }
    return { status: response.status, payload };
  }

  function askForKey(message) {
    sessionStorage.removeItem(KEY_STORE);
    modelInfo = null;
    $("patient-form").hidden = true;
    $("result").hidden = true;
    $("tabs").hidden = true;
    $("progression-form").hidden = true;
    $("progression-result").hidden = true;
    $("key-section").hidden = false;
    $("key-error").textContent = message || "";
    $("api-key").focus();
  }

  async function loadModel(errorSlot) {
    const { status, payload } = await call("model");
    if (status === 401) { askForKey("The service refused this key."); return false; }
    if (status !== 200) {
      $(errorSlot || "form-error").textContent =
        (payload && payload.error) || `The service answered ${status}.`;
      return false;
    }
    modelInfo = payload;
    return true;
  }

  function clearErrors() {
    for (const node of document.querySelectorAll(".error")) node.textContent = "";
    for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  function showFieldErrors(errors, fallback, prefix) {
    const p = prefix || "";
    let first = null;
    const general = [];
    for (const e of errors || []) {
      const slot = $(p + "err-" + e.field);
      const control = $(p + "f-" + e.field);
      if (slot && control) {
        slot.textContent = (slot.textContent ? slot.textContent + " " : "") + e.error;
        control.setAttribute("aria-invalid", "true");
        first = first || control;
      } else {
        general.push(`${e.field}: ${e.error}`);
      }
    }
    if (general.length || !first) {
      $(p ? "progression-form-error" : "form-error").textContent = general.join("; ") || fallback;
    }
    if (first) first.focus();
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearErrors();
    $("result").hidden = true; // never leave an earlier patient's answer beside new inputs
    $("submit").disabled = true;
    try {
      if (!modelInfo && !(await loadModel())) return;
      const { status, payload } = await call("score", { patient: collectPatient() });
      if (status === 401) { askForKey("The service refused this key."); return; }
      if (status === 422) { showFieldErrors(payload.errors, payload.error); return; }
      if (status !== 200) {
        $("form-error").textContent = (payload && payload.error) || `The service answered ${status}.`;
        return;
      }
      // A promotion or rollback happened since /model was read: read it again.
      if (payload.model_version !== modelInfo.model_version) await loadModel();
      render(payload);
    } catch (err) {
      $("form-error").textContent = "The service could not be reached: " + err.message;
    } finally {
      $("submit").disabled = false;
    }
  }

  async function onProgressionSubmit(event) {
    event.preventDefault();
    clearErrors();
    $("progression-result").hidden = true;
    $("progression-submit").disabled = true;
    try {
      if (!modelInfo && !(await loadModel("progression-form-error"))) return;
      const { status, payload } = await call("score", { patient: collectProgression() });
      if (status === 401) { askForKey("The service refused this key."); return; }
      if (status === 422) { showFieldErrors(payload.errors, payload.error, "p"); return; }
      if (status !== 200) {
        $("progression-form-error").textContent =
          (payload && payload.error) || `The service answered ${status}.`;
        return;
      }
      if (payload.model_version !== modelInfo.model_version) await loadModel();
      renderProgression(payload);
    } catch (err) {
      $("progression-form-error").textContent = "The service could not be reached: " + err.message;
    } finally {
      $("progression-submit").disabled = false;
    }
  }

  const DEATH_HORIZONS = [3, 6, 12];
  const months = (m) => (m === null || m === undefined || Number.isNaN(m)
    ? "not reached within 24 months" : `${Number(m).toFixed(1)} months`);

  function renderProgression(score) {
    const curve = score.os_curve;
    const alive = (t) => stepAt(curve.months, curve.alive, t);
    const population = (t) => stepAt(curve.months, curve.population_alive, t);
    const rows = $("death-rows");
    rows.replaceChildren();
    for (const h of DEATH_HORIZONS) {
      const mine = score[`death_${h}m`];
      const theirs = 1 - population(h);
      rows.append(el("tr", {}, el("th", { scope: "row" }, `${h} months`),
        el("td", { id: `death-${h}`, "data-value": String(mine) }, pct(mine)),
        el("td", { id: `death-pop-${h}`, "data-value": String(theirs) }, pct(theirs))));
    }
    $("median-os").textContent = months(score.median_os_months);
    $("median-os").setAttribute("data-value", String(score.median_os_months));
    const info = modelInfo.progression || {};
    $("median-os-population").textContent = info.population_os
      ? months(info.population_os.median_months) : "n/a";
    const group = score.risk_group;
    $("progression-group").textContent = group.name;
    $("progression-group").className = "group-" + group.name;
    const [low, high] = group.thresholds_12m;
    $("progression-thresholds").textContent =
      `(6-month death risk: low below ${pct(low)}, high from ${pct(high)})`;
    drawSurvival($("os-curve"), curve.months, alive, population, "months from progression",
      DEATH_HORIZONS);
    $("pcpi-group").textContent = score.pcpi_group || "not computed";
    $("pcpi-points").textContent = score.pcpi_points === null ? `(unknown: ${score.pcpi_unknown_factors.join(", ")})`
      : `(${score.pcpi_points} of 5 points)`;
    $("pcpi-factors").replaceChildren(...schema.pcpi.factors.map((f) => el("li", {},
      f.rule + (score.pcpi_unknown_factors.includes(f.name) ? ": unknown" : ""))));
    $("pcpi-assumption").textContent = schema.pcpi.assumption;
    drawContributions(score.contributions, score.missing_predictors, "progression-contributions");
    $("progression-missing").textContent = score.missing_predictors.length
      ? score.missing_predictors.join(", ") : "none";
    $("progression-version").textContent = score.model_version;
    renderSalvage();
    $("progression-notice").textContent = score.notice;
    $("progression-result").hidden = false;
    $("progression-result").scrollIntoView({ block: "start" });
  }

  function renderSalvage() {
    const data = schema.salvage;
    $("salvage-statement").textContent = data.statement;
    const rows = $("salvage-rows");
    rows.replaceChildren();
    const show = (v, f) => (v === null || v === undefined ? "not reported" : f(v));
    for (const o of data.options) {
      const source = data.sources[o.source];
      const size = source.size === null ? source.size_note : `n = ${source.size}; ${source.size_note}`;
      rows.append(el("tr", {}, el("th", { scope: "row" }, o.option), el("td", {}, o.stratum),
        el("td", {}, show(o.orr, pct)), el("td", {}, show(o.median_pfs_months, months)),
        el("td", {}, show(o.median_os_months, months)), el("td", {}, o.comparison || ""),
        el("td", {}, `${source.citation} (${size})`)));
    }
  }

  function drawSurvival(plot, grid, mine, theirs, label, points) {
    plot.replaceChildren();
    const [W, H, left, right, top, bottom] = [600, 320, 48, 16, 12, 40];
    const maxMonth = grid[grid.length - 1];
    const x = (m) => left + (m / maxMonth) * (W - left - right);
    const y = (s) => top + (1 - s) * (H - top - bottom);
    for (let s = 0; s <= 1.0001; s += 0.25) {
      plot.append(svg("line", { x1: left, x2: W - right, y1: y(s), y2: y(s), class: "grid" }));
      plot.append(svg("text", { x: left - 6, y: y(s) + 4, "text-anchor": "end" }, `${100 * s}%`));
    }
    for (let m = 0; m <= maxMonth; m += 6) {
      plot.append(svg("text", { x: x(m), y: H - bottom + 16, "text-anchor": "middle" }, String(m)));
    }
    plot.append(svg("text", { x: (W + left) / 2, y: H - 6, "text-anchor": "middle" }, label));
    const line = (f, cls) => svg("polyline", {
      class: cls, points: grid.map((m) => `${x(m).toFixed(1)},${y(f(m)).toFixed(1)}`).join(" "),
    });
    plot.append(line(theirs, "population"));
    plot.append(line(mine, "patient"));
    for (const h of points) {
      plot.append(svg("circle", { cx: x(h), cy: y(mine(h)), r: 4, class: "patient-point" }));
    }
  }

  // ---- the answer ---------------------------------------------------------------------------
  function stepAt(months, values, t) {
    let i = -1;
    while (i + 1 < months.length && months[i + 1] <= t) i += 1;
    return i < 0 ? values[0] : values[i];
  }

  // The service sends the patient's curve (from the model's own curves, or its baseline).
  function patientCurve(score) {
    return (t) => stepAt(score.curve.months, score.curve.event_free, t);
  }

  function renderRemission(score) {
    const asked = score.risk_next_12m !== null && score.risk_next_12m !== undefined;
    const cure = score.cure_probability;
    $("cure").textContent = cure === null || cure === undefined
      ? "not estimated by this model version" : pct(cure);
    $("remission-section").hidden = !asked;
    if (!asked) return;
    const months = $("f-event_free_months").value.trim();
    $("remission-months").textContent = months;
    const rows = $("remission-rows");
    rows.replaceChildren();
    for (const h of [6, 12]) {
      const cell = (kind) => el("td", { id: `next-${kind}-${h}`,
        "data-value": String(score[`${kind}_next_${h}m`]) }, pct(score[`${kind}_next_${h}m`]));
      rows.append(el("tr", {}, el("th", { scope: "row" }, `next ${h} months`),
        cell("risk"), cell("relapse"), cell("nrm")));
    }
    const now = score.cure_probability_given_event_free;
    $("cure-now").textContent = now === null || now === undefined ? "not estimated" : pct(now);
  }

  function render(score) {
    const info = modelInfo.landmarks[score.landmark];
    const pfs = patientCurve(score);
    const pop = info.population_pfs;
    const rows = $("risk-rows");
    rows.replaceChildren();
    for (const h of HORIZONS) {
      const risk = score[`risk_${h}m`];
      const mine = pfs(h);
      const theirs = stepAt(pop.months, pop.pfs, h);
      const cause = (kind) => {
        const value = score[`${kind}_${h}m`];
        return value === null || value === undefined
          ? el("td", { id: `${kind}-${h}` }, "n/a")
          : el("td", { id: `${kind}-${h}`, "data-value": String(value) }, pct(value));
      };
      rows.append(el("tr", {},
        el("th", { scope: "row" }, `${h} months`),
        el("td", { id: `risk-${h}`, "data-value": String(risk) }, pct(risk)),
        cause("relapse"), cause("nrm"),
        el("td", { id: `pfs-${h}`, "data-value": String(mine) }, pct(mine)),
        el("td", { id: `pop-${h}`, "data-value": String(theirs) }, pct(theirs))));
    }
    drawIcons(score);
    renderRemission(score);
    const group = score.risk_group;
    $("risk-group").textContent = group.name;
    $("risk-group").className = "group-" + group.name;
    const [low, high] = group.thresholds_12m;
    $("risk-thresholds").textContent =
      `(12-month risk: low below ${pct(low)}, high from ${pct(high)})`;
    drawCurve(pfs, pop);
    drawContributions(score.contributions, score.missing_predictors);
    $("missing").textContent = score.missing_predictors.length
      ? score.missing_predictors.join(", ") : "none";
    $("landmark").textContent = score.landmark === DAY28 ? "day 28" : "infusion (day 0)";
    $("model-version").textContent = score.model_version;
    $("result-notice").textContent = score.notice;
    $("result").hidden = false;
    $("result").scrollIntoView({ block: "start" });
  }

  function drawCurve(pfs, pop) {
    const plot = $("curve");
    plot.replaceChildren();
    const [W, H, left, right, top, bottom] = [600, 320, 48, 16, 12, 40];
    const maxMonth = pop.months[pop.months.length - 1];
    const x = (m) => left + (m / maxMonth) * (W - left - right);
    const y = (s) => top + (1 - s) * (H - top - bottom);
    for (let s = 0; s <= 1.0001; s += 0.25) {
      plot.append(svg("line", { x1: left, x2: W - right, y1: y(s), y2: y(s), class: "grid" }));
      plot.append(svg("text", { x: left - 6, y: y(s) + 4, "text-anchor": "end" }, `${100 * s}%`));
    }
    for (let m = 0; m <= maxMonth; m += 6) {
      plot.append(svg("text", { x: x(m), y: H - bottom + 16, "text-anchor": "middle" }, String(m)));
    }
    plot.append(svg("text", { x: (W + left) / 2, y: H - 6, "text-anchor": "middle" }, "months from infusion"));
    const line = (f, cls) => svg("polyline", {
      class: cls, points: pop.months.map((m) => `${x(m).toFixed(1)},${y(f(m)).toFixed(1)}`).join(" "),
    });
    plot.append(line((m) => stepAt(pop.months, pop.pfs, m), "population"));
    plot.append(line(pfs, "patient"));
    for (const h of HORIZONS) {
      plot.append(svg("circle", { cx: x(h), cy: y(pfs(h)), r: 4, class: "patient-point" }));
    }
  }

  // ---- 100 patients like this one (an icon array, as the PREDICT tool draws it) -------------
  const ICON_HORIZON = 12;
  const OUTCOMES = [
    ["relapse", "relapse or progression"],
    ["nrm", "death without relapse"],
    ["alive", "alive without relapse"],
  ];

  // Whole patients out of 100 by largest remainder, so the three always add up to 100.
  function iconCounts(relapse, nrm) {
    const exact = [100 * relapse, 100 * nrm, 100 * Math.max(0, 1 - relapse - nrm)];
    const counts = exact.map(Math.floor);
    const order = exact.map((v, i) => [v - Math.floor(v), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (let k = 0; counts.reduce((a, b) => a + b, 0) < 100; k += 1) counts[order[k][1]] += 1;
    return counts;
  }

  function drawIcons(score) {
    const relapse = score[`relapse_${ICON_HORIZON}m`];
    const nrm = score[`nrm_${ICON_HORIZON}m`];
    const box = $("icons");
    const legend = $("icons-legend");
    box.replaceChildren();
    legend.replaceChildren();
    $("icons-section").hidden = relapse === null || relapse === undefined;
    if ($("icons-section").hidden) return;
    const counts = iconCounts(relapse, nrm);
    let k = 0;
    OUTCOMES.forEach(([kind], i) => {
      for (let j = 0; j < counts[i]; j += 1, k += 1) {
        const [cx, cy] = [12 + 24 * (k % 10), 12 + 24 * Math.floor(k / 10)];
        const person = svg("g", { class: `icon ${kind}` });
        person.append(svg("circle", { cx, cy: cy - 5, r: 4 }));
        person.append(svg("path", { d: `M${cx - 7},${cy + 9} a7,8 0 0 1 14,0 z` }));
        box.append(person);
      }
    });
    box.setAttribute("aria-label", OUTCOMES.map(([, label], i) => `${counts[i]} ${label}`).join(", "));
    OUTCOMES.forEach(([kind, label], i) => legend.append(el("li", {
      class: kind, id: `icons-${kind}`, "data-count": String(counts[i]),
    }, el("span", { class: "swatch", "aria-hidden": "true" }), `${counts[i]} ${label}`)));
  }

  function drawContributions(contributions, missing, target) {
    const box = $(target || "contributions");
    box.replaceChildren();
    const entries = Object.entries(contributions).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    const largest = Math.max(1e-9, ...entries.map(([, v]) => Math.abs(v)));
    for (const [name, value] of entries) {
      const field = schema.fields.find((f) => f.name === name);
      const label = (field ? field.description.replace(/\.$/, "") : name)
        + (missing.includes(name) ? " (unknown)" : "");
      const shown = Math.abs(value).toFixed(3);
      const negligible = Number(shown) === 0; // not "−0.000 lowers risk"
      const direction = negligible ? "barely changes" : value > 0 ? "raises" : "lowers";
      const bar = el("span", { class: "bar " + (value >= 0 ? "up" : "down") });
      bar.style.width = (50 * Math.abs(value) / largest).toFixed(2) + "%";
      if (value < 0) bar.style.right = "50%"; else bar.style.left = "50%";
      box.append(el("div", { class: "contribution", "data-field": name, "data-value": String(value) },
        el("span", { class: "name" }, label),
        el("span", { class: "track", "aria-hidden": "true" }, bar),
        el("span", { class: "value" }, `${negligible ? "±" : value > 0 ? "+" : "−"}${shown} ${direction} risk`)));
    }
  }

  // ---- start ---------------------------------------------------------------------------------
  $("notice").textContent = schema.notice;
  buildForm();
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) { $("key-error").textContent = "Enter the service's API key."; return; }
    sessionStorage.setItem(KEY_STORE, key);
    $("api-key").value = "";
    $("key-error").textContent = "";
    let ok = false;
    try { ok = await loadModel("key-error"); } catch (err) {
      $("key-error").textContent = "The service could not be reached: " + err.message;
    }
    if (ok) {
      $("key-section").hidden = true;
      $("tabs").hidden = false;
      $("patient-form").hidden = false;
      $("f-patient_id").focus();
    }
  });
  $("patient-form").addEventListener("submit", onSubmit);
  $("progression-form").addEventListener("submit", onProgressionSubmit);
  $("tab-infusion").addEventListener("click", () => showTab(INFUSION));
  $("tab-progression").addEventListener("click", () => showTab(PROGRESSION));
  $("forget-key").addEventListener("click", () => askForKey(""));
  if (sessionStorage.getItem(KEY_STORE)) {
    loadModel().then((ok) => {
      if (ok) {
        $("key-section").hidden = true;
        $("tabs").hidden = false;
        $("patient-form").hidden = false;
      }
    });
  }
})();
