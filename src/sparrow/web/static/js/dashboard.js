/* Dashboard: the build's manifest summary, model metrics (+ ROC/PR curves), embeddings,
 * experiment layers and what the service loaded (/api/dashboard), and the live request rate and
 * latency per endpoint, polled from the Prometheus text of /metrics. */
(async function () {
  "use strict";
  const S = window.Sparrow;
  const h = S.h;
  const POLL_MS = 2000;
  S.init();
  const main = document.getElementById("dashboard");
  const status = document.getElementById("dashboard-status");

  const num = (v, digits) => (typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–");
  const table = (id, columns, rows) => h(
    "div", { class: "table-wrap" },
    h("table", { id: id },
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, rows.map((r) => h("tr", null, r.map((cell) => h("td", null, cell)))))),
  );
  const block = (title, id, ...content) => h("section", { class: "panel", id: id }, h("h2", null, title), ...content);

  const live = block("Live traffic", "live",
    h("p", { class: "muted", id: "live-note" }, "Polling /metrics every " + POLL_MS / 1000 + " s…"),
    h("div", { id: "live-table" }));
  try {
    const d = await S.getJSON("/api/dashboard");
    status.hidden = true;
    main.append(manifest(d), models(d), embeddings(d), experiments(d), live);
  } catch (err) {
    S.fail(status, err, "Could not load the dashboard");
    main.append(live);
  }
  poll();
  setInterval(poll, POLL_MS);
  document.body.dataset.ready = "true";

  function manifest(d) {
    const m = d.manifest;
    if (!m) return block("Build", "build", h("p", null, "No manifest.json in " + d.build + "."));
    const rows = m.rows || {};
    const facts = [
      ["Dataset", (m.dataset && m.dataset.name) || "–"],
      ["Built", m.created_at || "–"],
      ["Config digest", m.config_digest || "–"],
      ["Ratings", rows.ratings], ["Users", rows.users], ["Movies", rows.movies || rows.items],
      ["Genres", m.genres],
      ["Samples (train / test)", (rows.train_samples ?? "–") + " / " + (rows.test_samples ?? "–")],
      ["Split", m.split ? m.split.mode + (m.split.cutoff_ts ? ", test from " + new Date(m.split.cutoff_ts * 1000).toISOString().slice(0, 10) : "") : "–"],
      ["Positive rate (train / test)", m.positive_rate ? num(m.positive_rate.train, 3) + " / " + num(m.positive_rate.test, 3) : "–"],
      ["Feature build time", m.timings_s ? num(m.timings_s.total, 1) + " s" : "–"],
      ["Versions", m.versions ? Object.entries(m.versions).map(([k, v]) => k + " " + v).join(", ") : "–"],
    ];
    return block("Build", "build", h("dl", { class: "facts", id: "manifest" },
      facts.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v === undefined || v === null ? "–" : String(v))])));
  }

  function models(d) {
    const report = d.report && Array.isArray(d.report.test) ? d.report.test : null;
    const metrics = ["auc", "gauc", "pr_auc", "logloss", "accuracy"];
    const rows = report
      ? report.map((r) => [r.model, String(r.version ?? "–"), ...metrics.map((k) => num(r[k], 4))])
      : d.models.map((m) => [m.name, String(m.version), ...metrics.map((k) => num(m.metrics[k], 4))]);
    const served = new Map(d.models.map((m) => [m.name, m.served === null ? "–" : m.served ? "yes" : "no" + (m.error ? " (" + m.error + ")" : "")]));
    const content = [
      h("p", { class: "muted" }, report ? "From reports/report.json (test split)." : "From each model's metrics.json (test split); run sparrow evaluate for the full report."),
      table("metrics", ["model", "version", ...metrics, "served"], rows.map((r) => [...r, served.get(r[0]) || "–"])),
    ];
    if (d.report && Array.isArray(d.report.ncf)) {
      content.push(h("h3", null, "Top-k (leave-one-out)"),
        table("ncf", ["model", "HR@10", "NDCG@10", "users"], d.report.ncf.map((r) => [r.model, num(r["hr@10"], 4), num(r["ndcg@10"], 4), String(r.users ?? "–")])));
    }
    content.push(d.curves
      ? h("img", { id: "curves", class: "curves", src: d.curves, alt: "ROC and precision-recall curves of the models on the test split" })
      : h("p", { class: "muted", id: "no-curves" }, "No ROC/PR curves yet (run sparrow evaluate)."));
    return block("Models", "models", ...content);
  }

  function embeddings(d) {
    return block("Embeddings", "embeddings", d.embeddings.length
      ? table("embedding-table", ["method", "items", "dim", "served"], d.embeddings.map((e) => [e.name, String(e.items ?? "–"), String(e.dim ?? "–"), e.served === null ? "–" : e.served ? "yes" : "no"]))
      : h("p", { class: "muted" }, "No embeddings in this build."));
  }

  function experiments(d) {
    const s = d.service;
    if (!s) return block("Service", "service", h("p", { class: "muted" }, "Not running as the recommender service."));
    const layers = s.experiments.length
      ? table("layers", ["layer", "hash", "variants"], s.experiments.map((l) => [l.name, l.hashing,
        l.variants.map((v) => v.name + " " + v.weight + "%" + (v.model ? " → " + v.model : "") + (Object.keys(v.recall).length ? " " + JSON.stringify(v.recall) : "")).join("; ")]))
      : h("p", { class: "muted", id: "no-layers" }, "No experiment layers (serve with --experiments FILE).");
    return block("Service and experiments", "service",
      h("dl", { class: "facts" },
        h("dt", null, "Store"), h("dd", null, s.store + " (" + s.storeVersion + ")"),
        h("dt", null, "Models loaded"), h("dd", null, s.models.join(", ") || "none"),
        h("dt", null, "Default model"), h("dd", null, s.defaultModel),
        h("dt", null, "Embeddings"), h("dd", null, s.embeddings.join(", ") || "none"),
        h("dt", null, "Status"), h("dd", { class: s.degraded.length ? "error" : "" }, s.degraded.length ? s.degraded.join("; ") : "ok"),
        h("dt", null, "Events logged"), h("dd", null, d.events.bytes + " bytes in events/events.log"),
      ),
      h("h3", null, "Experiment layers"), layers);
  }

  // ---- live metrics --------------------------------------------------------------------------
  let previous = null;

  function parse(text) {
    const out = new Map(); // endpoint -> {count, errors, sum}
    const get = (e) => { if (!out.has(e)) out.set(e, { count: 0, errors: 0, sum: 0 }); return out.get(e); };
    for (const line of text.split("\n")) {
      const m = /^(sparrow_requests_total|sparrow_request_seconds_sum)\{(.*)\}\s+(\S+)$/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const [, k, v] of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
      const value = Number(m[3]);
      const entry = get(labels.endpoint || "other");
      if (m[1] === "sparrow_requests_total") {
        entry.count += value;
        if (/^[45]/.test(labels.status || "")) entry.errors += value;
      } else entry.sum += value;
    }
    return { at: performance.now(), by: out };
  }

  async function poll() {
    const note = document.getElementById("live-note");
    let now;
    try {
      const response = await fetch("/metrics");
      if (!response.ok) throw new Error("HTTP " + response.status);
      now = parse(await response.text());
    } catch (err) {
      note.textContent = "Metrics unavailable: " + err.message;
      return;
    }
    const rows = [];
    const seconds = previous ? (now.at - previous.at) / 1000 : null;
    for (const [endpoint, e] of [...now.by].sort((a, b) => b[1].count - a[1].count)) {
      const before = previous && previous.by.get(endpoint);
      const dn = before ? e.count - before.count : null;
      const rate = seconds && dn !== null ? num(dn / seconds, 2) : "…";
      const latency = before && dn > 0 ? num(((e.sum - before.sum) / dn) * 1000, 1) : e.count ? num((e.sum / e.count) * 1000, 1) : "–";
      rows.push([endpoint === "other" ? "other (pages, unknown paths)" : endpoint, String(e.count), String(e.errors), rate, latency]);
    }
    document.getElementById("live-table").replaceChildren(
      table("live-metrics", ["endpoint", "requests", "4xx/5xx", "req/s", "mean latency (ms)"], rows));
    note.textContent = "Updated " + new Date().toLocaleTimeString() + " (this worker's counters; latency over the last interval).";
    previous = now;
  }
})();
