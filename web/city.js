/* city.js -- the city screen (GET /): one map of the city drawn from its
 * own geometry, live, beside the plan's indicators, the busiest car parks
 * and the latest alerts.
 *
 * Sources (api.md): /web/config.json (tile layer, if any); GeoJSON lists
 * of routes, corridors, stops and intersections (?format=geojson); the
 * parking SSE stream (a snapshot of every lot, then each change);
 * vehicles polled as GeoJSON; SPaT of the intersections in view; /v1/city.
 *
 * Scale: a Yantai-sized city has ~3,000 lots and ~2,500 buses. Every
 * feature is drawn on one Leaflet canvas (L.canvas), not as DOM/SVG
 * nodes; lot changes from the stream are collected and applied once per
 * animation frame; bus positions are applied in one pass per poll. The
 * cost of each pass is kept in window.cityPerf (docs/pages.md has the
 * figures at that size).
 *
 * For tests and assistive tools each feature also has an element in the
 * hidden #features index -- data-lot / data-vehicle / data-intersection /
 * data-stop with the id, data-status with its status, data-lat/data-lon
 * where it is drawn -- written by the same code that styles its marker. */
"use strict";

(function () {
  var POLL_VEHICLES_MS = Number(cityd.query("vehicles_ms")) || 2000;
  var POLL_CITY_MS = 5000;
  var POLL_INTERSECTIONS_MS = 10000;
  var POLL_SPAT_MS = 2000;
  var SPAT_MAX = 60;                 /* SPaT is polled for at most this many in view */
  var STOPS_MIN_ZOOM = 14;
  var perfOn = cityd.query("perf") === "1";

  var perf = window.cityPerf = { lots: [], vehicles: [], vehicle_chunks: [], vehicles_wall: [], parse: [],
                                 frames: [], longtasks: [], tasks: [] };
  function record(kind, ms, n) {
    var a = perf[kind];
    a.push({ ms: ms, n: n, t: performance.now() });
    if (a.length > 5000) a.splice(0, a.length - 5000);
  }

  /* fn, with the time each call takes kept as a "tasks" entry. */
  function timed(name, fn) {
    return function () {
      var t0 = performance.now(), r = fn.apply(this, arguments);
      perf.tasks.push({ ms: performance.now() - t0, n: 0, name: name });
      if (perf.tasks.length > 5000) perf.tasks.splice(0, 1000);
      return r;
    };
  }

  /* ---- the map ---- */
  var renderer = L.canvas({ padding: 0.2, tolerance: 3 });
  var map = L.map("map", { renderer: renderer, preferCanvas: true, zoomSnap: 0.5 })
    .setView([37.53, 121.39], 12);
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  var layers = {
    routes: L.layerGroup().addTo(map),
    corridors: L.layerGroup().addTo(map),
    stops: L.layerGroup(),
    intersections: L.layerGroup().addTo(map),
    lots: L.layerGroup().addTo(map),
    buses: L.layerGroup().addTo(map)
  };
  L.control.layers(null, {
    "公交线路 Bus routes": layers.routes,
    "干线 Corridors": layers.corridors,
    "公交站 Stops (zoom ≥ 14)": layers.stops,
    "信号路口 Signals": layers.intersections,
    "停车场 Car parks": layers.lots,
    "公交车 Buses": layers.buses
  }, { collapsed: true }).addTo(map);
  var stopsWanted = true;
  map.on("overlayadd overlayremove", function (e) {
    if (e.layer === layers.stops) stopsWanted = e.type === "overlayadd";
  });
  function stopsByZoom() {
    var show = stopsWanted && map.getZoom() >= STOPS_MIN_ZOOM;
    if (show && !map.hasLayer(layers.stops)) {
      map.addLayer(layers.stops);
      /* small and under everything else they could not be clicked */
      layers.stops.eachLayer(function (l) { l.bringToFront(); });
    }
    if (!show && map.hasLayer(layers.stops)) {
      map.removeLayer(layers.stops);
      stopsWanted = true;
    }
  }
  map.on("zoomend", stopsByZoom);

  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var d = L.DomUtil.create("div", "legend");
    d.innerHTML =
      '<b>停车场 Car parks</b>' +
      '<i style="background:#1a9641"></i>有空位 spaces ' +
      '<i style="background:#fdae61"></i>将满 &lt;10 % ' +
      '<i style="background:#d7191c"></i>已满 full ' +
      '<i style="background:#9e9e9e"></i>未知 unknown<br>' +
      '<b>公交 Buses</b>' +
      '<i style="background:#2c7bb6"></i>早 early ' +
      '<i style="background:#1a9641"></i>准点 on time ' +
      '<i style="background:#fdae61"></i>晚 3–5 min ' +
      '<i style="background:#d7191c"></i>晚 &gt;5 min<br>' +
      '<b>信号 Signals</b>' +
      '<i class="sq" style="background:#1a9641"></i>绿 green ' +
      '<i class="sq" style="background:#ffd700"></i>黄 amber ' +
      '<i class="sq" style="background:#d7191c"></i>红 red';
    return d;
  };
  legend.addTo(map);

  /* ---- the feature index ---- */
  var index = document.getElementById("features");
  function indexEntry(kind, id) {
    var e = document.createElement("i");
    e.setAttribute("data-" + kind, id);
    index.appendChild(e);
    return e;
  }
  function indexAt(e, ll) {
    e.setAttribute("data-lat", ll.lat.toFixed(6));
    e.setAttribute("data-lon", ll.lng.toFixed(6));
  }

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  /* ---- car parks: the SSE stream ---- */
  var lots = new Map();              /* id -> {lot, marker, el} */
  var pendingLots = new Map();
  var lotsFrame = false;
  var fitted = false;

  function lotStyle(lot) {
    var total = lot.totalSpotNumber || 0;
    return {
      radius: 4 + Math.min(6, Math.sqrt(total) / 5),
      color: lot.stale ? "#666" : "#fff",
      weight: 1,
      fillColor: cityd.LOT_COLOURS[lot.status] || cityd.LOT_COLOURS.unknown,
      fillOpacity: lot.stale ? 0.45 : 0.9
    };
  }

  function lotPopup(id) {
    var e = lots.get(id);
    if (!e) return "";
    var l = e.lot, lab = cityd.LOT_LABELS[l.status] || [l.status, l.status];
    return '<div class="pop"><b>' + esc(l.name) + "</b>" +
      (l.name_en ? "<br><i>" + esc(l.name_en) + "</i>" : "") +
      '<div class="pop-big">' + cityd.int(l.availableSpotNumber) + " / " + cityd.int(l.totalSpotNumber) +
      ' <small>空位 free</small></div>' +
      "<div>" + esc(lab[0]) + " " + esc(lab[1]) + (l.stale ? " · 数据过期 stale" : "") + "</div>" +
      (l.priceRatePerHour !== undefined && l.priceRatePerHour !== null
        ? "<div>" + esc(l.priceRatePerHour) + " " + esc(l.priceCurrency || "CNY") + "/h</div>" : "") +
      (l.dataAgeSeconds !== null && l.dataAgeSeconds !== undefined
        ? "<div>更新于 updated " + cityd.int(l.dataAgeSeconds) + " s 前 ago</div>" : "") +
      '<div><a href="/v1/parking/lots/' + encodeURIComponent(l.id) + '" target="_blank">' + esc(l.id) +
      '</a> · <a href="/v1/parking/lots/' + encodeURIComponent(l.id) +
      '/forecast" target="_blank">预测 forecast</a></div></div>';
  }

  function applyLot(lot) {
    if (!lot || !lot.id || !lot.location || !lot.location.coordinates) return;
    var c = lot.location.coordinates, ll = L.latLng(c[1], c[0]);
    var e = lots.get(lot.id);
    if (!e) {
      e = { lot: lot, marker: L.circleMarker(ll, lotStyle(lot)), el: indexEntry("lot", lot.id) };
      e.marker.on("click", function () {
        e.marker.unbindPopup().bindPopup(lotPopup(lot.id)).openPopup();
      });
      e.marker.addTo(layers.lots);
      lots.set(lot.id, e);
    } else {
      var old = e.lot;
      e.lot = lot;
      if (old.status !== lot.status || old.stale !== lot.stale ||
          old.totalSpotNumber !== lot.totalSpotNumber)
        e.marker.setStyle(lotStyle(lot));
      if (!e.marker.getLatLng().equals(ll)) e.marker.setLatLng(ll);
      if (e.marker.isPopupOpen()) e.marker.setPopupContent(lotPopup(lot.id));
    }
    e.el.setAttribute("data-status", lot.status);
    e.el.setAttribute("data-stale", lot.stale ? "true" : "false");
    e.el.setAttribute("data-available", lot.availableSpotNumber === null ? "" : lot.availableSpotNumber);
    indexAt(e.el, e.marker.getLatLng());
  }

  function flushLots() {
    lotsFrame = false;
    var t0 = performance.now(), n = pendingLots.size;
    pendingLots.forEach(applyLot);
    pendingLots.clear();
    record("lots", performance.now() - t0, n);
    if (!fitted && lots.size > 0) fitToCity();
  }

  function queueLot(lot) {
    pendingLots.set(lot.id, lot);
    if (!lotsFrame) {
      lotsFrame = true;
      requestAnimationFrame(flushLots);
    }
  }

  function openStream() {
    var es = new EventSource("/v1/parking/stream?bbox=-180,-90,180,90");
    es.addEventListener("lot", function (ev) {
      try { queueLot(JSON.parse(ev.data)); } catch (e) { cityd.status(e); }
    });
    es.onopen = function () { cityd.status(null); };
    es.onerror = function () {
      cityd.status(new Error("停车数据流中断 parking stream interrupted"));
      /* EventSource retries by itself unless the server refused it */
      if (es.readyState === EventSource.CLOSED) setTimeout(openStream, 5000);
    };
  }

  function fitToCity() {
    var b = L.latLngBounds([]);
    lots.forEach(function (e) { b.extend(e.marker.getLatLng()); });
    layers.routes.eachLayer(function (l) { if (l.getBounds) b.extend(l.getBounds()); });
    if (b.isValid()) {
      map.fitBounds(b, { padding: [20, 20], maxZoom: 15 });
      fitted = true;
    }
  }

  /* ---- buses: polled ---- */
  var buses = new Map();             /* id -> {v, marker, el} */

  function busStyle(v) {
    /* no outline: one fill per bus keeps the canvas redraw short */
    return { radius: 4.5, stroke: false, fillColor: cityd.busColour(v), fillOpacity: 1 };
  }

  function busPopup(v) {
    var dev = v.schedule_deviation_s;
    return '<div class="pop"><b>' + esc(v.route_id || "—") + "</b> · " + esc(v.vehicle_id) +
      "<div>" + (dev === null || dev === undefined ? "无时刻表 no schedule"
        : (dev > 0 ? "晚 late " : "早 early ") + Math.abs(Math.round(dev / 60)) + " min") + "</div>" +
      "<div>" + esc(v.status) + (v.next_stop_id ? " → " + esc(v.next_stop_id) : "") + "</div>" +
      (v.next_stop_id ? '<div><a href="/stop/' + encodeURIComponent(v.next_stop_id) +
        '">下一站 next stop</a></div>' : "") + "</div>";
  }

  /* One poll's positions are applied in chunks of VEHICLE_CHUNK a frame,
   * so that 2,500 buses never make one long task: each chunk moves its
   * markers (Leaflet redraws the canvas once in the next frame); the
   * index is written only where a value changed. A new poll waits for
   * the last to finish (cityd.every never overlaps). */
  var VEHICLE_CHUNK = 400;

  function setAttr(el, k, v) {
    v = String(v);
    if (el.getAttribute(k) !== v) el.setAttribute(k, v);
  }

  function applyVehicle(f, seen) {
    var v = f.properties || {}, c = f.geometry && f.geometry.coordinates;
    if (!v.vehicle_id || !c) return;
    var e = buses.get(v.vehicle_id), cls = cityd.busClass(v);
    seen.add(v.vehicle_id);
    if (!e) {
      e = { v: v, cls: cls, marker: L.circleMarker([c[1], c[0]], busStyle(v)), el: indexEntry("vehicle", v.vehicle_id) };
      e.marker.on("click", function () {
        e.marker.unbindPopup().bindPopup(busPopup(e.v)).openPopup();
      });
      e.marker.addTo(layers.buses);
      buses.set(v.vehicle_id, e);
    } else {
      if (e.cls !== cls) e.marker.setStyle(busStyle(v));
      var ll = e.marker.getLatLng();
      if (ll.lat !== c[1] || ll.lng !== c[0]) e.marker.setLatLng([c[1], c[0]]);
      e.v = v;
      e.cls = cls;
    }
    setAttr(e.el, "data-status", v.status || "");
    setAttr(e.el, "data-deviation", cls);
    setAttr(e.el, "data-lat", c[1].toFixed(6));
    setAttr(e.el, "data-lon", c[0].toFixed(6));
  }

  function applyVehicles(fc) {
    var list = fc.features || [], seen = new Set(), i = 0, total = 0, t00 = performance.now();
    return new Promise(function (done) {
      (function chunk() {
        var t0 = performance.now(), end = Math.min(list.length, i + VEHICLE_CHUNK);
        for (; i < end; i++) applyVehicle(list[i], seen);
        if (i >= list.length) {
          buses.forEach(function (e, id) {
            if (!seen.has(id)) {
              layers.buses.removeLayer(e.marker);
              e.el.remove();
              buses.delete(id);
            }
          });
        }
        var ms = performance.now() - t0;
        total += ms;
        record("vehicle_chunks", ms, end);
        if (i < list.length) {
          requestAnimationFrame(chunk);
        } else {
          record("vehicles", total, seen.size);
          record("vehicles_wall", performance.now() - t00, seen.size);
          done();
        }
      })();
    });
  }

  /* ---- static geometry: routes, corridors, stops ---- */
  /* One canvas draws (and hit-tests) in the order features were added,
   * and the lists arrive in any order: keep the lines under the points,
   * routes under corridors, so that a click on a corridor opens it and a
   * click on a lot or a stop on it opens that. */
  function stackLines() {
    layers.corridors.eachLayer(function (l) { l.bringToBack(); });
    layers.routes.eachLayer(function (l) { l.bringToBack(); });
  }

  function loadRoutes() {
    return cityd.api("/v1/transit/routes?format=geojson").then(function (fc) {
      L.geoJSON(fc, {
        style: function (f) {
          var c = f.properties && f.properties.route_color;
          return { color: c ? "#" + c.replace(/^#/, "") : "#3366cc", weight: 3, opacity: 0.55 };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties || {};
          layer.bindTooltip(esc(p.route_short_name || p.route_id) +
            (p.route_long_name ? " " + esc(p.route_long_name) : ""), { sticky: true });
        }
      }).eachLayer(function (l) { l.addTo(layers.routes); });
      stackLines();
      if (!fitted && lots.size === 0) fitToCity();
    });
  }

  function loadCorridors() {
    return cityd.api("/v1/signals/corridors?format=geojson").then(function (fc) {
      L.geoJSON(fc, {
        filter: function (f) { return f.geometry && /LineString/.test(f.geometry.type); },
        style: function () { return { color: "#6a3d9a", weight: 9, opacity: 0.35, lineCap: "round" }; },
        onEachFeature: function (f, layer) {
          var p = f.properties || {};
          layer.bindTooltip(esc(p.name || p.id), { sticky: true });
          layer.bindPopup('<div class="pop"><b>' + esc(p.name || p.id) + "</b> (" + esc(p.id) + ")" +
            '<div><a class="open" href="/corridor/' + encodeURIComponent(p.id) +
            '">打开干线 Open corridor →</a></div></div>');
        }
      }).eachLayer(function (l) { l.addTo(layers.corridors); });
      stackLines();
    });
  }

  function loadStops() {
    return cityd.api("/v1/transit/stops?format=geojson").then(function (fc) {
      (fc.features || []).forEach(function (f) {
        var p = f.properties || {}, c = f.geometry && f.geometry.coordinates;
        if (!c || !p.stop_id) return;
        var m = L.circleMarker([c[1], c[0]], {
          radius: 3.5, color: "#0b3d91", weight: 1.5, fillColor: "#fff", fillOpacity: 1
        });
        m.bindPopup('<div class="pop"><b>' + esc(p.stop_name || p.stop_id) + "</b> (" + esc(p.stop_id) + ")" +
          '<div><a class="open" href="/stop/' + encodeURIComponent(p.stop_id) +
          '">打开站牌 Open stop sign →</a></div></div>');
        m.addTo(layers.stops);
        var el = indexEntry("stop", p.stop_id);
        el.setAttribute("data-status", "scheduled");
        indexAt(el, m.getLatLng());
      });
      stopsByZoom();
    });
  }

  /* ---- intersections: list (mode, timing) and SPaT in view ---- */
  var inters = new Map();            /* id -> {p, marker, el, state, spat} */
  var SIGNAL_FILL = { green: "#1a9641", yellow: "#ffd700", red: "#d7191c", unknown: "#bdbdbd" };

  function oversaturated(p) {
    var ph = p.timing && p.timing.phases ? p.timing.phases : [];
    return ph.some(function (x) { return x.degree_of_saturation > 1; });
  }

  function interStyle(e) {
    var c = cityd.signalColour(e.state);
    return {
      radius: 6, weight: oversaturated(e.p) ? 3 : 1.5,
      color: oversaturated(e.p) ? "#d7191c" : (e.p.realtime ? "#000" : "#777"),
      fillColor: SIGNAL_FILL[c], fillOpacity: 1
    };
  }

  function interPopup(e) {
    var p = e.p, rows = "";
    (e.spat && e.spat.states ? e.spat.states : []).forEach(function (s) {
      rows += "<tr><td>" + esc(s.signal_group) + "</td><td>" + esc((s.movements || []).join(" ")) +
        '</td><td class="sig-' + cityd.signalColour(s.event_state) + '">' + esc(s.event_state) +
        "</td><td>" + (s.likely_end_s !== undefined ? Math.round(s.likely_end_s) + " s" : "") + "</td></tr>";
    });
    return '<div class="pop"><b>' + esc(p.name || p.id) + "</b> (" + esc(p.id) + ")" +
      "<div>" + (p.mode === "adaptive" ? "自适应 adaptive" : "定时 fixed") +
      (p.realtime ? " · 实时配时 real-time" : "") +
      (p.timing && p.timing.cycle_s ? " · 周期 cycle " + Math.round(p.timing.cycle_s) + " s" : "") +
      (oversaturated(p) ? ' · <b class="bad">过饱和 oversaturated</b>' : "") + "</div>" +
      (rows ? '<table class="spat">' + rows + "</table>" : "") +
      (p.corridors || []).map(function (c) {
        var cid = typeof c === "string" ? c : c.id;
        return '<div><a class="open" href="/corridor/' + encodeURIComponent(cid) + '">干线 corridor ' +
          esc(cid) + " →</a></div>";
      }).join("") + "</div>";
  }

  function interRefresh(e) {
    e.marker.setStyle(interStyle(e));
    e.el.setAttribute("data-status", e.state || "unknown");
    e.el.setAttribute("data-signal", cityd.signalColour(e.state));
    e.el.setAttribute("data-mode", e.p.mode || "");
    e.el.setAttribute("data-realtime", e.p.realtime ? "true" : "false");
    e.el.setAttribute("data-oversaturated", oversaturated(e.p) ? "true" : "false");
    if (e.marker.isPopupOpen()) e.marker.setPopupContent(interPopup(e));
  }

  function loadIntersections() {
    return cityd.api("/v1/signals/intersections?format=geojson").then(function (fc) {
      (fc.features || []).forEach(function (f) {
        var p = f.properties || {}, c = f.geometry && f.geometry.coordinates;
        if (!c || !p.id) return;
        var e = inters.get(p.id);
        if (!e) {
          e = { p: p, state: null, marker: L.circleMarker([c[1], c[0]], {}), el: indexEntry("intersection", p.id) };
          e.marker.on("click", function () {
            e.marker.unbindPopup().bindPopup(interPopup(e)).openPopup();
          });
          e.marker.addTo(layers.intersections);
          indexAt(e.el, e.marker.getLatLng());
          inters.set(p.id, e);
        }
        e.p = p;
        interRefresh(e);
      });
      updateAlerts();
    });
  }

  /* The first signal group stands for the intersection on the map. */
  function pollSpat() {
    if (!map.hasLayer(layers.intersections)) return Promise.resolve();
    var b = map.getBounds(), todo = [];
    inters.forEach(function (e) { if (b.contains(e.marker.getLatLng())) todo.push(e); });
    if (todo.length > SPAT_MAX) return Promise.resolve();
    return Promise.all(todo.map(function (e) {
      return cityd.api("/v1/signals/intersections/" + encodeURIComponent(e.p.id) + "/spat")
        .then(function (s) {
          var states = (s.states || []).slice().sort(function (a, b) {
            return (a.signal_group || 0) - (b.signal_group || 0);
          });
          e.spat = s;
          var st = states.length ? states[0].event_state : null;
          if (st !== e.state) {
            e.state = st;
            interRefresh(e);
          } else if (e.marker.isPopupOpen()) {
            e.marker.setPopupContent(interPopup(e));
          }
        }).catch(function () { /* one intersection's SPaT missing: keep the last */ });
    }));
  }

  /* ---- indicators, busiest lots, alerts ---- */
  var city = null;
  var chart = null;

  /* The panel's elements, found once (a selector over the whole page
   * would walk the feature index's thousands of entries every time). */
  var kpiEls = {}, kpiCards = Array.from(document.querySelectorAll("[data-kpi-card]"));
  document.querySelectorAll("[data-kpi]").forEach(function (el) {
    var k = el.getAttribute("data-kpi");
    (kpiEls[k] = kpiEls[k] || []).push(el);
  });

  function setKpi(name, value, isShare) {
    (kpiEls[name] || []).forEach(function (el) {
      var text = isShare ? cityd.pct(value) : cityd.int(value);
      if (el.textContent !== text) el.textContent = text;
      el.setAttribute("data-value", value === null || value === undefined ? "" : value);
    });
  }

  function showCity(c) {
    city = c;
    var groups = { parking: c.parking || {}, transit: c.transit || {}, fares: c.fares || {}, signals: c.signals || {} };
    Object.keys(groups).forEach(function (g) {
      Object.keys(groups[g]).forEach(function (k) {
        var v = groups[g][k];
        if (typeof v === "number" || v === null) setKpi(k, v, /^share_/.test(k));
      });
    });
    var targets = c.targets || {};
    kpiCards.forEach(function (card) {
      var name = card.getAttribute("data-kpi-card"), v = null, t = targets[name];
      Object.keys(groups).forEach(function (g) { if (name in groups[g]) v = groups[g][name]; });
      if (t !== undefined) card.querySelector("[data-target]").textContent = Math.round(t * 100) + " %";
      card.querySelector(".fill").style.width = v === null ? "0" : Math.min(100, v * 100) + "%";
      if (t !== undefined) card.querySelector(".mark").style.left = t * 100 + "%";
      card.classList.toggle("met", v !== null && t !== undefined && v >= t);
      card.classList.toggle("below", v !== null && t !== undefined && v < t);
    });
    chartSample(c);
    updateAlerts();
  }

  function chartSample(c) {
    if (!window.Chart) return;
    var label = cityd.hhmmss(c.at || Date.now() / 1000);
    if (!chart) {
      chart = new Chart(document.getElementById("free-chart"), {
        type: "line",
        data: { labels: [], datasets: [
          { label: "空余车位 Free spaces", data: [], borderColor: "#1a9641", backgroundColor: "rgba(26,150,65,.15)",
            fill: true, pointRadius: 0, tension: 0.3, yAxisID: "y" },
          { label: "在线公交 Buses live", data: [], borderColor: "#2c7bb6", pointRadius: 0, tension: 0.3, yAxisID: "y1" }
        ] },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false,
          plugins: { legend: { labels: { boxWidth: 10, font: { size: 11 } } } },
          scales: { x: { ticks: { maxTicksLimit: 4, font: { size: 10 } } },
                    y: { beginAtZero: true, ticks: { font: { size: 10 } } },
                    y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                          ticks: { font: { size: 10 } } } }
        }
      });
    }
    var d = chart.data;
    d.labels.push(label);
    d.datasets[0].data.push(c.parking ? c.parking.spaces_available : null);
    d.datasets[1].data.push(c.transit ? c.transit.vehicles : null);
    if (d.labels.length > 180) {
      d.labels.shift();
      d.datasets.forEach(function (s) { s.data.shift(); });
    }
    chart.update("none");
  }

  function updateBusiest() {
    var list = [];
    lots.forEach(function (e) {
      var l = e.lot;
      if (!l.stale && typeof l.occupancy === "number") list.push(l);
    });
    list.sort(function (a, b) { return b.occupancy - a.occupancy || (a.id < b.id ? -1 : 1); });
    var ol = document.getElementById("busiest");
    ol.textContent = "";
    list.slice(0, 8).forEach(function (l) {
      var li = cityd.el("li", { "data-lot": l.id, "data-status": l.status });
      var a = cityd.el("a", { href: "#" }, l.name || l.id);
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var e = lots.get(l.id);
        map.setView(e.marker.getLatLng(), Math.max(map.getZoom(), 15));
        e.marker.fire("click");
      });
      li.appendChild(a);
      li.appendChild(cityd.el("span", { class: "occ" },
        Math.round(l.occupancy * 100) + " % · " + cityd.int(l.availableSpotNumber) + " 空 free"));
      var bar = cityd.el("div", { class: "bar" });
      var fill = cityd.el("div", { class: "fill" });
      fill.style.width = Math.min(100, l.occupancy * 100) + "%";
      fill.style.background = cityd.LOT_COLOURS[l.status] || "#999";
      bar.appendChild(fill);
      li.appendChild(bar);
      ol.appendChild(li);
    });
    if (!list.length) ol.appendChild(cityd.el("li", { class: "none" }, "暂无在报车场 No car park reporting yet"));
  }

  /* Alerts: stale sources, full lots, oversaturated intersections. Each
   * keeps the time it was first seen; the newest come first. */
  var alertSince = new Map();
  var SOURCE_STALE_S = { parking: 900, transit: 90, counts: 1800 };
  var SOURCE_NAMES = { parking: ["停车数据", "parking data"], transit: ["公交定位", "bus positions"],
                       counts: ["路口流量", "detector counts"] };

  function updateAlerts() {
    var now = Date.now() / 1000, items = [];
    if (city && city.sources) {
      Object.keys(city.sources).forEach(function (s) {
        var src = city.sources[s] || {}, n = SOURCE_NAMES[s] || [s, s];
        if (src.latest === null || src.latest === undefined)
          items.push({ key: "src:" + s, kind: "stale_source", zh: n[0] + "无数据", en: "no " + n[1] + " yet" });
        else if (src.age_s > (SOURCE_STALE_S[s] || 900))
          items.push({ key: "src:" + s, kind: "stale_source", zh: n[0] + "过期", en: n[1] + " stale for " +
            Math.round(src.age_s / 60) + " min" });
      });
    }
    lots.forEach(function (e) {
      if (e.lot.status === "full" && !e.lot.stale)
        items.push({ key: "full:" + e.lot.id, kind: "full_lot", zh: (e.lot.name || e.lot.id) + " 已满",
                     en: (e.lot.name_en || e.lot.id) + " is full", lot: e.lot.id });
    });
    inters.forEach(function (e) {
      if (oversaturated(e.p))
        items.push({ key: "sat:" + e.p.id, kind: "oversaturated", zh: (e.p.name || e.p.id) + " 过饱和",
                     en: "intersection " + e.p.id + " oversaturated", intersection: e.p.id });
    });
    var live = new Set(items.map(function (i) { return i.key; }));
    alertSince.forEach(function (t, k) { if (!live.has(k)) alertSince.delete(k); });
    items.forEach(function (i) { if (!alertSince.has(i.key)) alertSince.set(i.key, now); i.since = alertSince.get(i.key); });
    items.sort(function (a, b) { return b.since - a.since || (a.key < b.key ? -1 : 1); });
    var ul = document.getElementById("alerts");
    ul.textContent = "";
    items.slice(0, 12).forEach(function (i) {
      var li = cityd.el("li", { "data-alert": i.kind, class: "alert " + i.kind });
      li.appendChild(cityd.el("time", null, cityd.hhmm(i.since)));
      li.appendChild(cityd.label(i.zh, i.en));
      ul.appendChild(li);
    });
    if (items.length > 12)
      ul.appendChild(cityd.el("li", { class: "more" }, "… +" + (items.length - 12)));
    if (!items.length) ul.appendChild(cityd.el("li", { class: "none" }, "无告警 No alerts"));
  }

  /* ---- frame timing (?perf=1) ---- */
  if (perfOn) {
    var last = performance.now();
    (function tick(t) {
      record("frames", t - last, 0);
      last = t;
      requestAnimationFrame(tick);
    })(last);
    if (window.PerformanceObserver) {
      try {
        new PerformanceObserver(function (list) {
          list.getEntries().forEach(function (e) { record("longtasks", e.duration, 0); });
        }).observe({ entryTypes: ["longtask"] });
      } catch (e) { /* no longtask support */ }
    }
  }

  /* ---- start ---- */
  function tickClock() {
    document.getElementById("clock").textContent = cityd.dateTime(Date.now() / 1000);
  }
  tickClock();
  setInterval(tickClock, 1000);

  cityd.config().then(function (cfg) {
    if (cfg && cfg.tile_url)
      L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 19 }).addTo(map).bringToBack();
  }).catch(cityd.status);
  Promise.all([loadRoutes().catch(cityd.status), loadCorridors().catch(cityd.status),
               loadStops().catch(cityd.status)]);
  openStream();
  cityd.every(POLL_VEHICLES_MS, function () {
    return cityd.api("/v1/transit/vehicles?format=geojson", { onParse: function (ms, n) { record("parse", ms, n); } })
      .then(applyVehicles);
  });
  cityd.every(POLL_CITY_MS, function () {
    return cityd.api("/v1/city").then(timed("city", showCity)).then(timed("busiest", updateBusiest));
  });
  cityd.every(POLL_INTERSECTIONS_MS, timed("intersections", loadIntersections));
  cityd.every(POLL_SPAT_MS, pollSpat);

  window.cityMap = { map: map, lots: lots, buses: buses, intersections: inters, layers: layers,
                     renderer: renderer, applyLot: queueLot, applyVehicles: applyVehicles, fit: fitToCity,
                     panel: function (c) { showCity(c); updateBusiest(); } };
})();
