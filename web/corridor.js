/* corridor.js -- the engineer's view of a corridor (GET /corridor/{id}):
 * every intersection's running timing and SPaT, the time–space diagram of
 * the running timing (drawn here from the timings) and of a candidate
 * plan (the server's time-space.svg), degree of saturation per
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
 * "Activate" then PUTs the candidate; the reply says where it runs
 * (plan_runs, plan_reason) and each timing whether this cycle follows it. The
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

  /* After "Activate": where the plan runs, from each intersection's
   * timing (its "plan" is the plan its cycle follows; a transition takes
   * a few cycles, adaptive members follow it only while their flows call
   * for its cycle). */
  var active = null, activeReply = {};
  function showActive() {
    if (!active) return;
    var lines = ["已启用 Activated " + active];
    corridor.intersections.forEach(function (x) {
      var t = timings[x.id] || {}, a = activeReply[x.id] || {};
      var runs = a.plan_runs === undefined ? "" : a.plan_runs ? "运行方案 runs it" : "不运行 does not run it";
      lines.push(x.id + " " + (t.mode || a.mode || "") + ": " + runs +
        (a.plan_reason ? " (" + a.plan_reason + ")" : "") + " · " +
        (t.plan === active ? "本周期按方案 this cycle follows it" : "过渡中 in transition"));
    });
    msg(lines.join("\n"), true);
  }

  function pollTimings() {
    return Promise.all(corridor.intersections.map(function (x) {
      return cityd.api("/v1/signals/intersections/" + encodeURIComponent(x.id) + "/timing").then(function (t) {
        timings[x.id] = t;
        showTiming(x);
      });
    })).then(updateChart).then(drawRunning).then(defaultCycles).then(showActive)
      .then(function () { cityd.status(null); });
  }

  /* The cycle range starts at what the intersections can run, up to
   * 40 s past the common cycle running now (until the user edits it). */
  var cyclesSet = false;
  function defaultCycles() {
    if (cyclesSet) return;
    var low = feasibleMinCycle(), now = 0;
    corridor.intersections.forEach(function (x) { now = Math.max(now, (timings[x.id] || {}).cycle_s || 0); });
    if (!low || !now) return;
    $("cycle-min").value = low;
    $("cycle-max").value = Math.max(low, Math.round(now) + 40);
    cyclesSet = true;
  }
  ["cycle-min", "cycle-max"].forEach(function (k) {
    $(k).addEventListener("input", function () { cyclesSet = true; });
  });

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

  /* ---- the running timing as a time–space diagram ----
   * Drawn here from each intersection's timing (its cycle_start, phase
   * order and greens: where every phase is in its cycle, as SPaT says),
   * so that it shows what runs now whatever runs: adaptive timing, a
   * plan in transition, fixed design timing. Distance up, time across
   * (now = 0), the outbound through green of each intersection in green,
   * the rest of its cycle red; dashed lines: a car at the corridor's
   * speed leaving the first intersection at the start of each of its
   * greens. The server's SVG (time-space.svg) draws stored plans. */
  var tsd = null;

  /* [start, end) of the green of the phase serving movement mv, in
   * seconds from the start of the cycle. */
  function greenWindow(t, mv) {
    var at = 0, w = null;
    (t.phases || []).forEach(function (p) {
      if (w === null && (p.movements || []).indexOf(mv) >= 0) w = [at, at + p.green_s];
      at += (p.green_s || 0) + (p.amber_s || 0) + (p.all_red_s || 0);
    });
    return w;
  }

  function drawRunning() {
    if (!window.Chart || !corridor) return;
    var mv = throughMovements(), now = Date.now() / 1000, green = [], red = [], cars = [];
    var cmax = 0, span0 = null, span1 = null;
    corridor.intersections.forEach(function (x) {
      var t = timings[x.id];
      if (t && t.cycle_s > cmax) cmax = t.cycle_s;
    });
    if (!cmax) return;
    span0 = -cmax;
    span1 = 2 * cmax;
    corridor.intersections.forEach(function (x, i) {
      var t = timings[x.id], w = t && greenWindow(t, mv[0]);
      if (!w || !(t.cycle_s > 0) || typeof t.cycle_start !== "number") return;
      var C = t.cycle_s, k0 = Math.floor((now + span0 - t.cycle_start) / C) - 1;
      var y = x.position_m, last = span0;
      for (var k = k0; t.cycle_start + k * C - now < span1; k++) {
        var g0 = t.cycle_start + k * C + w[0] - now, g1 = t.cycle_start + k * C + w[1] - now;
        if (g1 < span0) { last = g1; continue; }
        red.push({ x: Math.max(span0, last), y: y }, { x: Math.min(span1, g0), y: y }, { x: null, y: null });
        green.push({ x: Math.max(span0, g0), y: y }, { x: Math.min(span1, g1), y: y }, { x: null, y: null });
        if (i === 0) {
          var v = corridor.speed_kmh / 3.6, far = corridor.intersections[corridor.intersections.length - 1].position_m;
          cars.push({ x: g0, y: y }, { x: g0 + (far - y) / v, y: far }, { x: null, y: null });
        }
        last = g1;
      }
      if (last < span1) red.push({ x: Math.max(span0, last), y: y }, { x: span1, y: y }, { x: null, y: null });
    });
    var data = { datasets: [
      { label: "绿灯 green (" + mv[0] + ")", data: green, borderColor: "#1a9641", borderWidth: 7, pointRadius: 0, spanGaps: false, showLine: true },
      { label: "红灯 red", data: red, borderColor: "#d7191c", borderWidth: 7, pointRadius: 0, spanGaps: false, showLine: true },
      { label: "车速 " + corridor.speed_kmh + " km/h", data: cars, borderColor: "#2c7bb6", borderWidth: 1, borderDash: [5, 4],
        pointRadius: 0, spanGaps: false, showLine: true }
    ] };
    $("tsd-dir").textContent = "去向 outbound " + mv[0];
    if (!tsd) {
      tsd = new Chart($("tsd-running"), { type: "scatter", data: data, options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        scales: { x: { type: "linear", min: span0, max: span1, title: { display: true, text: "时间 time (s)" } },
                  y: { type: "linear", title: { display: true, text: "距离 distance (m)" },
                       ticks: { callback: function (v) { return v; } } } },
        plugins: { legend: { labels: { boxWidth: 12 } }, tooltip: { enabled: false } } } });
    } else {
      tsd.data = data;
      tsd.options.scales.x.min = span0;
      tsd.options.scales.x.max = span1;
      tsd.update("none");
    }
    tsd.canvas.setAttribute("data-cycle", cmax);
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

  /* The shortest cycle every intersection can run: its phases' minimum
   * (and pedestrian) greens plus their amber and all-red. */
  function feasibleMinCycle() {
    var m = 0;
    corridor.intersections.forEach(function (x) {
      var t = timings[x.id], c = 0;
      ((t && t.phases) || []).forEach(function (p) {
        c += (p.min_green_s || 0) + (p.amber_s || 0) + (p.all_red_s || 0);
      });
      m = Math.max(m, c);
    });
    return Math.ceil(m);
  }

  /* Step 1: the best common cycle in the range (MAXBAND on the running
   * through greens), the range's low end raised to what every
   * intersection can run. */
  function bestCycle(v, key) {
    var low = feasibleMinCycle();
    if (v.cmax < low) return Promise.reject(new Error("周期范围 cycle range: 最长 max " + v.cmax +
      " s < 最短可行周期 shortest cycle every intersection can run " + low + " s"));
    v.cmin = Math.max(v.cmin, low);
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
      active = r.id || candidate.id;
      activeReply = {};
      (r.intersections || []).forEach(function (x) { activeReply[x.id] = x; });
      return pollTimings();
    }).catch(function (e) { msg(e.message); $("activate").disabled = false; });
  });

  /* ---- start ---- */
  cityd.config().catch(function () {});
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
    cityd.every(5000, pollTimings);
    cityd.every(1000, pollSpat);
    setInterval(drawRunning, 1000);
  }).catch(function (e) {
    $("cor-name").textContent = e.status === 404 ? "未知干线 Unknown corridor " + id : id;
    cityd.status(e);
  });
})();
