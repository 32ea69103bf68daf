/* corridor.js -- the engineer's view of a corridor (GET /corridor/{id}):
 * every intersection's running timing and SPaT, the time–space diagram of
 * the running timing and of a candidate plan, degree of saturation per
 * phase, and the green-wave optimiser with its inputs.
 *
 * The optimiser takes a speed range, a cycle range and an objective. A
 * corridor plan runs one common cycle (POST …/corridors/{id}/greenwave
 * takes cycle_s, not a range), so "Compute" goes in two steps:
 *  1. the cycle: POST /v1/signals/greenwave (MAXBAND on explicit inputs)
 *     over the cycle range, with the intersections' positions and the
 *     through greens of the running timing as shares of their cycle;
 *  2. the plan: POST /v1/signals/corridors/{id}/greenwave with that
 *     cycle, the speed range and the objective, which splits every
 *     intersection at that cycle and stores a candidate plan.
 * "Activate" then PUTs the candidate; the reply says where it runs. The
 * engineer key is typed in by the user and kept for this tab only
 * (sessionStorage), never in the page or the URL. */
"use strict";

(function () {
  var id = cityd.pathId();
  var base = "/v1/signals/corridors/" + encodeURIComponent(id);
  var corridor = null;
  var timings = {};                  /* intersection id -> timing */
  var spats = {};                    /* intersection id -> spat */
  var candidate = null;
  var chart = null;
  var $ = function (x) { return document.getElementById(x); };

  var keyInput = $("key");
  keyInput.value = sessionStorage.getItem("cityd.engineer_key") || "";
  keyInput.addEventListener("change", function () {
    sessionStorage.setItem("cityd.engineer_key", keyInput.value);
  });

  function msg(text, ok) {
    var m = $("opt-msg");
    m.textContent = text;
    m.className = "msg " + (ok ? "ok" : "bad");
  }

  /* ---- intersections: timing and SPaT ---- */
  function row(x) {
    var tr = document.querySelector('#inters tr[data-intersection="' + CSS.escape(x.id) + '"]');
    if (!tr) {
      tr = cityd.el("tr", { "data-intersection": x.id });
      for (var i = 0; i < 8; i++) tr.appendChild(cityd.el("td"));
      tr.cells[0].appendChild(cityd.el("b", null, x.id));
      tr.cells[0].appendChild(document.createTextNode(" " + (x.name || "")));
      tr.cells[1].textContent = Math.round(x.position_m) + " m";
      document.querySelector("#inters tbody").appendChild(tr);
    }
    return tr;
  }

  function showTiming(x) {
    var t = timings[x.id], tr = row(x);
    if (!t) return;
    tr.setAttribute("data-mode", t.mode || "");
    tr.cells[2].textContent = (t.mode === "adaptive" ? "自适应 adaptive" : "定时 fixed") + (t.plan ? " · " + t.plan : "");
    tr.cells[3].textContent = t.cycle_s !== undefined ? Math.round(t.cycle_s) + " s" : "—";
    tr.cells[4].textContent = t.offset_s !== undefined ? t.offset_s.toFixed(1) + " s" : "—";
    tr.cells[5].textContent = (t.phases || []).map(function (p) {
      return (p.movements || []).filter(function (m) { return /T$/.test(m); }).join("/") + " " + Math.round(p.green_s);
    }).join(", ");
    var dos = Math.max.apply(null, (t.phases || []).map(function (p) { return p.degree_of_saturation || 0; }).concat([0]));
    tr.cells[6].textContent = dos.toFixed(2);
    tr.cells[6].style.color = dos > 1 ? "#ff6b6b" : dos > 0.9 ? "#fdae61" : "";
  }

  function showSpat(x) {
    var s = spats[x.id], tr = row(x);
    if (!s) return;
    var cell = tr.cells[7];
    cell.textContent = "";
    (s.states || []).forEach(function (st) {
      var c = cityd.signalColour(st.event_state);
      var chip = cityd.el("span", { class: "chip " + c, "data-signal-group": st.signal_group,
                                    "data-status": st.event_state, title: st.event_state },
        (st.movements || []).filter(function (m) { return /T$/.test(m); }).join("/") || ("#" + st.signal_group));
      chip.appendChild(document.createTextNode(" " + Math.max(0, Math.round(st.likely_end_s)) + "s"));
      cell.appendChild(chip);
      cell.appendChild(document.createTextNode(" "));
    });
    var first = (s.states || [])[0];
    tr.setAttribute("data-status", first ? first.event_state : "unknown");
  }

  function pollTimings() {
    return Promise.all(corridor.intersections.map(function (x) {
      return cityd.api("/v1/signals/intersections/" + encodeURIComponent(x.id) + "/timing").then(function (t) {
        timings[x.id] = t;
        showTiming(x);
      });
    })).then(updateChart).then(function () { cityd.status(null); });
  }

  function pollSpat() {
    return Promise.all(corridor.intersections.map(function (x) {
      return cityd.api("/v1/signals/intersections/" + encodeURIComponent(x.id) + "/spat").then(function (s) {
        spats[x.id] = s;
        showSpat(x);
      });
    }));
  }

  function updateChart() {
    if (!window.Chart) return;
    var labels = [], dos = [], delay = [];
    corridor.intersections.forEach(function (x) {
      ((timings[x.id] || {}).phases || []).forEach(function (p) {
        labels.push(x.id + " " + (p.movements || []).slice(0, 2).join("/"));
        dos.push(p.degree_of_saturation);
        delay.push(p.delay_s);
      });
    });
    if (!chart) {
      chart = new Chart($("dos-chart"), {
        data: { labels: labels, datasets: [
          { type: "bar", label: "饱和度 DoS", data: dos, backgroundColor: "rgba(79,163,255,.7)", yAxisID: "y" },
          { type: "line", label: "延误 Delay (s)", data: delay, borderColor: "#fdae61", pointRadius: 2, yAxisID: "y1" }
        ] },
        options: { animation: false, maintainAspectRatio: false,
          scales: { x: { ticks: { color: "#9fb0c6", font: { size: 10 } } },
                    y: { beginAtZero: true, suggestedMax: 1.2, ticks: { color: "#9fb0c6" }, title: { display: true, text: "DoS", color: "#9fb0c6" } },
                    y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, ticks: { color: "#9fb0c6" },
                          title: { display: true, text: "s", color: "#9fb0c6" } } },
          plugins: { legend: { labels: { color: "#e8eef6" } } } }
      });
    } else {
      chart.data.labels = labels;
      chart.data.datasets[0].data = dos;
      chart.data.datasets[1].data = delay;
      chart.update("none");
    }
  }

  function refreshRunningDiagram() {
    $("tsd-running").src = base + "/time-space.svg?t=" + Date.now();
  }

  /* ---- the optimiser ---- */

  /* Compass direction of travel outbound (first to last intersection),
   * and the through movements of each direction. */
  function throughMovements() {
    var a = corridor.intersections[0], b = corridor.intersections[corridor.intersections.length - 1];
    var dx = (b.lon - a.lon) * Math.cos(a.lat * Math.PI / 180), dy = b.lat - a.lat;
    if (Math.abs(dx) >= Math.abs(dy)) return dx >= 0 ? ["EBT", "WBT"] : ["WBT", "EBT"];
    return dy >= 0 ? ["NBT", "SBT"] : ["SBT", "NBT"];
  }

  function greenRatio(t, mv) {
    var p = (t.phases || []).find(function (ph) { return (ph.movements || []).indexOf(mv) >= 0; });
    return p && t.cycle_s > 0 ? Math.min(1, Math.max(0.05, p.green_s / t.cycle_s)) : null;
  }

  function numbers() {
    var v = {
      smin: Number($("speed-min").value), smax: Number($("speed-max").value),
      cmin: Number($("cycle-min").value), cmax: Number($("cycle-max").value),
      objective: $("objective").value
    };
    if (!(v.smin > 0 && v.smax >= v.smin)) throw new Error("车速范围 speed range: min ≤ max, both > 0");
    if (!(v.cmin >= 20 && v.cmax >= v.cmin)) throw new Error("周期范围 cycle range: 20 ≤ min ≤ max");
    return v;
  }

  /* Step 1: the best common cycle in the range (MAXBAND on the running
   * through greens); null when the range is one value. */
  function bestCycle(v, key) {
    if (v.cmin === v.cmax) return Promise.resolve(v.cmin);
    var mv = throughMovements(), xs = [];
    for (var i = 0; i < corridor.intersections.length; i++) {
      var x = corridor.intersections[i], t = timings[x.id];
      var o = t && greenRatio(t, mv[0]), n = t && greenRatio(t, mv[1]);
      if (!o || !n) return Promise.reject(new Error(x.id + ": 无 " + mv.join("/") + " 相位 no phase serves " + mv.join("/")));
      xs.push({ id: x.id, position_m: x.position_m, outbound_green_ratio: o, inbound_green_ratio: n });
    }
    return cityd.api("/v1/signals/greenwave", { method: "POST", key: key, body: {
      intersections: xs, cycle_range_s: [v.cmin, v.cmax],
      speed_range_mps: [v.smin / 3.6, v.smax / 3.6], objective: v.objective
    } }).then(function (r) { return Math.round(r.cycle_s); });
  }

  function showCandidate(p) {
    candidate = p;
    $("activate").disabled = false;
    $("cand-id").textContent = p.id;
    $("tsd-cand-fig").hidden = false;
    $("tsd-candidate").src = base + "/time-space.svg?plan=" + encodeURIComponent(p.id);
    var tb = document.querySelector("#cand tbody");
    tb.textContent = "";
    (p.intersections || []).forEach(function (x) {
      var tr = cityd.el("tr", { "data-intersection": x.id });
      tr.appendChild(cityd.el("td", null, x.id + " " + (x.name || "")));
      tr.appendChild(cityd.el("td", null, Number(x.offset_s).toFixed(1)));
      tr.appendChild(cityd.el("td", null, (x.outbound_green_s !== undefined ? Math.round(x.outbound_green_s) : "—") +
        " / " + (x.inbound_green_s !== undefined ? Math.round(x.inbound_green_s) : "—")));
      tb.appendChild(tr);
    });
    $("cand").hidden = false;
    msg("候选方案 Candidate " + p.id + ": 周期 cycle " + Math.round(p.cycle_s) + " s, 带宽 bands " +
        Number(p.outbound_band_s).toFixed(1) + " / " + Number(p.inbound_band_s).toFixed(1) + " s, 效率 efficiency " +
        cityd.pct(p.efficiency) + ", 车速 speed " + (p.speed_mps * 3.6).toFixed(1) + " km/h", true);
  }

  $("compute").addEventListener("click", function () {
    var key = keyInput.value.trim(), v;
    sessionStorage.setItem("cityd.engineer_key", key);
    try { v = numbers(); } catch (e) { msg(e.message); return; }
    if (!key) { msg("请输入工程师密钥 Enter an engineer key"); return; }
    $("compute").disabled = true;
    msg("计算中 Computing…", true);
    bestCycle(v, key).then(function (cycle) {
      return cityd.api(base + "/greenwave", { method: "POST", key: key, body: {
        cycle_s: cycle, speed_range_mps: [v.smin / 3.6, v.smax / 3.6], objective: v.objective
      } });
    }).then(showCandidate).catch(function (e) { msg(e.message); })
      .then(function () { $("compute").disabled = false; });
  });

  $("activate").addEventListener("click", function () {
    var key = keyInput.value.trim();
    if (!candidate) return;
    $("activate").disabled = true;
    cityd.api(base + "/plan", { method: "PUT", key: key, body: { plan: candidate.id } }).then(function (r) {
      var lines = ["已启用 Activated " + candidate.id];
      (r.intersections || []).forEach(function (x) {
        lines.push(x.id + ": " + (x.mode || "") + (x.runs === false ? " — 未运行 not running" +
          (x.reason ? " (" + x.reason + ")" : "") : " — 运行 running"));
      });
      msg(lines.join("\n"), true);
      refreshRunningDiagram();
      return pollTimings();
    }).catch(function (e) { msg(e.message); $("activate").disabled = false; });
  });

  /* ---- start ---- */
  setInterval(function () { $("clock").textContent = cityd.hhmmss(Date.now() / 1000); }, 1000);
  cityd.api(base).then(function (c) {
    corridor = c;
    $("cor-name").textContent = c.name || c.id;
    $("cor-sub").textContent = c.id + " · " + (c.length_m / 1000).toFixed(1) + " km · " +
      c.intersections.length + " 路口 intersections · " + c.speed_kmh + " km/h";
    document.title = (c.name || c.id) + " · 干线配时 Corridor";
    $("speed-min").value = Math.max(5, Math.round(c.speed_kmh * 0.8));
    $("speed-max").value = Math.round(c.speed_kmh);
    c.intersections.forEach(row);
    refreshRunningDiagram();
    cityd.every(5000, pollTimings);
    cityd.every(1000, pollSpat);
    setInterval(refreshRunningDiagram, 60000);
  }).catch(function (e) {
    $("cor-name").textContent = e.status === 404 ? "未知干线 Unknown corridor " + id : id;
    cityd.status(e);
  });
})();
