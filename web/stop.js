/* stop.js -- the electronic stop sign (GET /stop/{stop_id}): the next
 * arrivals at one stop, live, in type readable from across the street,
 * each marked predicted (a live bus backs it) or scheduled (timetable).
 *
 * A physical sign opens /stop/{stop_id}?sign={sign_id} (its id in the
 * map's stop_signs.geojson) and passes sign= on every arrivals request:
 * that is how cityd counts it live (api.md §3: fetched within 120 s).
 * Without sign= the page is just a view of the stop and counts nothing.
 * Arrivals are fetched every 15 s; the minutes count down each second
 * in between against the server's clock (the reply's `at`), not the
 * sign's own. With ?at=<epoch> the sign replays that moment (as the
 * API's at=): its first request asks for exactly that instant, later
 * ones for it plus the time since. */
"use strict";

(function () {
  var FETCH_MS = Number(cityd.query("refresh_ms")) || 15000;
  /* a portrait sign has room for more rows (type is sized by its width) */
  var ROWS = Number(cityd.query("rows")) || (window.innerHeight > 1.3 * window.innerWidth ? 10 : 6);
  var stopId = cityd.pathId();
  var sign = cityd.query("sign");
  var at0 = cityd.query("at") !== null ? Number(cityd.query("at")) : null;
  var started = null;              /* local time of the first request (replay) */
  var routes = {};                 /* route_id -> {short, long} */
  var last = null;                 /* the latest arrivals reply */
  var skew = 0;                    /* server clock - local clock, s */

  function now() { return Date.now() / 1000 + skew; }

  function due(a) {
    return a.predicted && a.predicted_arrival !== null ? a.predicted_arrival : a.scheduled_arrival;
  }

  function render() {
    document.getElementById("clock").textContent = cityd.hhmm(now());
    if (!last) return;
    var body = document.getElementById("arrivals"), t = now();
    var rows = (last.arrivals || []).filter(function (a) { return due(a) >= t - 30; }).slice(0, ROWS);
    body.textContent = "";
    rows.forEach(function (a) {
      var r = routes[a.route_id] || {};
      var tr = cityd.el("tr", { "data-trip": a.trip_id, "data-route": a.route_id,
                                "data-vehicle": a.vehicle_id || "", "data-predicted": a.predicted ? "true" : "false",
                                "data-due": due(a) });
      tr.appendChild(cityd.el("td", { class: "route" }, a.route_short_name || r.short || a.route_id));
      tr.appendChild(cityd.el("td", { class: "dest" }, a.trip_headsign || r.long || ""));
      tr.appendChild(cityd.el("td", { class: "kind" }, a.predicted ? "● 实时 live"
        : "○ 计划 " + cityd.hhmm(a.scheduled_arrival)));
      var left = due(a) - t, when = cityd.el("td", { class: "when" });
      when.appendChild(cityd.el("span", { class: "num" }, left < 60 ? "进站" : String(Math.floor(left / 60))));
      when.appendChild(cityd.el("span", { class: "unit" }, left < 60 ? " Due" : " 分 min"));
      tr.appendChild(when);
      body.appendChild(tr);
    });
    document.getElementById("empty").hidden = rows.length > 0;
  }

  function fetchArrivals() {
    var q = "?minutes_after=90" + (sign ? "&sign=" + encodeURIComponent(sign) : "");
    if (at0 !== null && isFinite(at0)) {
      if (started === null) started = Date.now() / 1000;
      q += "&at=" + (at0 + (Date.now() / 1000 - started)).toFixed(0);
    }
    return cityd.api("/v1/transit/stops/" + encodeURIComponent(stopId) + "/arrivals" + q).then(function (r) {
      last = r;
      if (typeof r.at === "number") skew = r.at - Date.now() / 1000;
      cityd.status(null);
      render();
    });
  }

  function fetchStop() {
    return cityd.api("/v1/transit/stops/" + encodeURIComponent(stopId)).then(function (s) {
      var name = s.stop_name || s.name || stopId;
      document.getElementById("stop-name").textContent = name;
      document.getElementById("stop-sub").textContent = "站 Stop " + (s.stop_code || stopId) + (sign ? " · 站牌 sign " + sign : "");
      document.title = name + " · 电子站牌 Stop sign";
      (s.routes || []).forEach(function (r) {
        var id = typeof r === "string" ? r : r.route_id;
        routes[id] = { short: r.route_short_name || id, long: r.route_long_name || "" };
      });
      render();
    });
  }

  cityd.config().catch(function () {}).then(render);
  fetchStop().catch(function (e) {
    document.getElementById("stop-name").textContent = e.status === 404 ? "未知站点 Unknown stop " + stopId : stopId;
    cityd.status(e);
  });
  cityd.every(FETCH_MS, fetchArrivals);
  setInterval(render, 1000);
  window.stopSign = { last: function () { return last; }, now: now };
})();
