#!/usr/bin/env python3
"""test_pages.py -- the browser pages in Debian's headless Chromium.

Starts its own redis-server and bin/cityd (the demo city, maps/yantai) on
free ports, and Chromium driven over the DevTools protocol (cdp.py), then:

  - each page (/, /stop/{id}, /corridor/{id}) loads with no console error,
    no uncaught exception and no failed request;
  - the city page draws every lot of the demo (the hidden feature index
    has each with the status the API gives, and the canvas pixel at a
    lot is its status colour);
  - a posted observation changes that lot's data-status within 2 s, with
    no reload (the SSE stream), and its colour on the canvas;
  - a posted bus position draws a bus, and a second one moves it;
  - the indicators show the values of GET /v1/city;
  - the stop sign lists the arrivals of its API, predicted/scheduled
    as the API says, and counts as a live sign (signs_live);
  - the corridor view shows SPaT for every intersection, computes a
    green-wave plan with the engineer key and activates it.

A screenshot of each page goes to $BROWSER_OUT (default build/browser);
--docs also copies them to docs/. Prints "PASS name" / "FAIL name: why"
per test and, last, "RESULT browser tests=N failed=M" for tests/run.sh.
"""
import calendar
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CITYD = os.path.abspath(os.environ.get("CITYD_BIN", os.path.join(ROOT, "bin", "cityd")))
OUT = os.environ.get("BROWSER_OUT", os.path.join(ROOT, "build", "browser"))
KEYS = "k-admin admin t-admin\nk-sensor sensor t-sensor\nk-engineer engineer t-engineer\n" \
       "k-operator operator t-operator\n"
GTFS = os.path.join(ROOT, "maps", "yantai", "gtfs")
# The canvas colours of city.js / common.js, by lot status.
LOT_RGB = {"spacesAvailable": (0x1a, 0x96, 0x41), "almostFull": (0xfd, 0xae, 0x61),
           "full": (0xd7, 0x19, 0x1c), "closed": (0x4d, 0x4d, 0x4d), "open": (0x66, 0xbd, 0x63),
           "unknown": (0x9e, 0x9e, 0x9e)}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """redis-server and cityd on free ports, in a temp dir."""

    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="cityd-browser-")
        self.rport, self.port = free_port(), free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.rport), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "keys.conf"), "w") as f:
            f.write(KEYS)
        self.log = open(os.path.join(self.dir, "cityd.log"), "w")
        self.cityd = subprocess.Popen(
            [CITYD, "-c", os.path.join(ROOT, "config", "cityd.conf"),
             "-o", "server.listen=127.0.0.1:%d" % self.port,
             "-o", "redis.url=redis://127.0.0.1:%d" % self.rport,
             "-o", "auth.keys_file=" + os.path.join(self.dir, "keys.conf"),
             "-o", "map.dir=" + os.path.join(ROOT, "maps", "yantai"),
             "-o", "web.dir=" + os.path.join(ROOT, "web"),
             "-o", "log.level=warn"] + [a for o in extra for a in ("-o", o)],
            cwd=ROOT, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.get("/v1/health").get("status") == "ok":
                    return
            except (OSError, ValueError):
                pass
            if self.cityd.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("cityd did not become ready")

    def request(self, method, path, body=None, key=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if key:
            req.add_header("Authorization", "Bearer " + key)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode() or "null")

    def get(self, path):
        return self.request("GET", path)

    def stop(self):
        """Stop both; cityd's exit status and any sanitizer report in its
        log (None when it exited 0 with none)."""
        for p in (self.cityd, self.redis):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.log.close()
        with open(os.path.join(self.dir, "cityd.log"), errors="replace") as f:
            bad = [l.strip() for l in f if "Sanitizer" in l or "runtime error" in l]
        rc = self.cityd.returncode
        shutil.rmtree(self.dir, ignore_errors=True)
        return None if rc == 0 and not bad else "exit status %s; %s" % (rc, "; ".join(bad[:3]))


class Failure(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Failure(why)


def clean(page, what):
    """The page's console and network so far hold no problem."""
    page.pump(0.3)
    check(not page.problems, "%s: %s" % (what, "; ".join(page.problems[:6])))


def open_page(page, url, width=1600, height=1000):
    page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
              deviceScaleFactor=1, mobile=False)
    page.navigate(url)


def shot(page, name, docs):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".png")
    page.screenshot(path)
    if docs:
        shutil.copy(path, os.path.join(ROOT, "docs", "screenshot-" + name + ".png"))
    return path


def post_position(srv, vid, lon, lat, ts):
    srv.request("POST", "/v1/transit/vehicle-positions", key="k-sensor", body={
        "header": {"gtfs_realtime_version": "2.0", "timestamp": ts},
        "entity": [{"id": "e-" + vid, "vehicle": {
            "vehicle": {"id": vid}, "position": {"latitude": lat, "longitude": lon},
            "timestamp": ts}}]})


# The colour of the city canvas at a feature's marker, after centring the
# map on it at a zoom where neighbours are far away.
PIXEL_JS = r"""
(function (kind, id) {
  var e = (kind === "lot" ? cityMap.lots : cityMap.buses).get(id), map = cityMap.map;
  if (!e) return null;
  map.setView(e.marker.getLatLng(), 18, { animate: false });
  return new Promise(function (done) {
    requestAnimationFrame(function () { requestAnimationFrame(function () {
      var p = map.latLngToContainerPoint(e.marker.getLatLng());
      var mr = map.getContainer().getBoundingClientRect();
      var c = document.querySelector(".leaflet-overlay-pane canvas"), r = c.getBoundingClientRect();
      var x = Math.round((mr.left + p.x - r.left) * c.width / r.width);
      var y = Math.round((mr.top + p.y - r.top) * c.height / r.height);
      var d = c.getContext("2d").getImageData(x, y, 1, 1).data;
      done([d[0], d[1], d[2], d[3]]);
    }); });
  });
})(%s, %s)
"""


def lot_colour_at(page, lot_id):
    px = page.eval(PIXEL_JS % (json.dumps("lot"), json.dumps(lot_id)))
    check(px is not None and px[3] > 0, "lot %s: nothing drawn at its place (%r)" % (lot_id, px))
    return min(LOT_RGB, key=lambda s: sum((a - b) ** 2 for a, b in zip(LOT_RGB[s], px[:3])))


def index_of(page, kind):
    return page.eval("""Array.from(document.querySelectorAll('#features [data-%s]')).map(function (e) {
        return [e.getAttribute('data-%s'), e.getAttribute('data-status'),
                Number(e.getAttribute('data-lat')), Number(e.getAttribute('data-lon'))]; })""" % (kind, kind))


# ---- the tests ----

def t_city_loads(ctx):
    page, srv = ctx["page"], ctx["srv"]
    open_page(page, srv.base + "/")
    n = len(srv.get("/v1/parking/lots")["lots"])
    _, waited = page.wait_for("document.querySelectorAll('#features [data-lot]').length >= %d" % n, 15)
    check(waited < 15, "city: %d lots never drawn" % n)
    page.wait_for("document.querySelector('[data-kpi=share_predicted]').getAttribute('data-value') !== null", 10)
    page.wait_for("document.querySelectorAll('#features [data-intersection]').length > 0", 10)
    page.pump(2.5)
    clean(page, "city page")
    shot(page, "city-first", False)


def t_city_every_lot(ctx):
    page, srv = ctx["page"], ctx["srv"]
    lots = {l["id"]: l for l in srv.get("/v1/parking/lots")["lots"]}
    drawn = {i[0]: i for i in index_of(page, "lot")}
    check(set(drawn) == set(lots), "lots drawn %d, API %d; missing %s" % (
        len(drawn), len(lots), sorted(set(lots) - set(drawn))[:5]))
    for lid, l in lots.items():
        check(drawn[lid][1] == l["status"], "lot %s: data-status %s, API %s" % (lid, drawn[lid][1], l["status"]))
        c = l["location"]["coordinates"]
        check(abs(drawn[lid][2] - c[1]) < 1e-5 and abs(drawn[lid][3] - c[0]) < 1e-5,
              "lot %s drawn at %r, API %r" % (lid, drawn[lid][2:], c))
    # the canvas shows it: a few lots' pixels are their status colour
    for lid in sorted(lots)[:3]:
        got = lot_colour_at(page, lid)
        check(got == lots[lid]["status"], "lot %s: canvas colour of %s, API status %s" % (lid, got, lots[lid]["status"]))


def t_city_lot_live(ctx):
    page, srv = ctx["page"], ctx["srv"]
    lid = sorted(l["id"] for l in srv.get("/v1/parking/lots")["lots"])[5]
    before = page.eval("document.querySelector('#features [data-lot=\"%s\"]').getAttribute('data-status')" % lid)
    loads = page.eval("performance.getEntriesByType('navigation').length")
    t0 = time.time()
    srv.request("POST", "/v1/parking/observations", key="k-sensor", body={"observations": [
        {"id": "bt-obs-full", "lot": lid, "availableSpotNumber": 0, "ts": int(time.time())}]})
    _, waited = page.wait_for("document.querySelector('#features [data-lot=\"%s\"]').getAttribute('data-status') === 'full'" % lid,
                              timeout=2.0, interval=0.05)
    took = time.time() - t0
    check(waited < 2.0, "lot %s: data-status still %s 2 s after the observation" % (lid, before))
    check(before != "full", "lot %s was full already" % lid)
    check(page.eval("performance.getEntriesByType('navigation').length") == loads, "the page reloaded")
    check(lot_colour_at(page, lid) == "full", "lot %s: canvas not red after full" % lid)
    ctx["notes"].append("lot data-status changed %.2f s after the observation was posted" % took)
    clean(page, "city page after an observation")


def t_city_bus_moves(ctx):
    page, srv = ctx["page"], ctx["srv"]
    vid = "bt-bus-1"
    a, b = (121.3700, 37.5407), (121.3772, 37.5401)         # along 南大街
    now = int(time.time())
    post_position(srv, vid, a[0], a[1], now - 20)
    js = """(function () { var e = document.querySelector('#features [data-vehicle="%s"]');
        return e && [Number(e.getAttribute('data-lat')), Number(e.getAttribute('data-lon'))]; })()""" % vid
    _, waited = page.wait_for("(%s) && Math.abs((%s)[1] - %r) < 1e-5" % (js, js, a[0]), 8)
    check(waited < 8, "bus %s never drawn at its first position" % vid)
    post_position(srv, vid, b[0], b[1], now - 5)
    _, waited = page.wait_for("(%s) && Math.abs((%s)[1] - %r) < 1e-5" % (js, js, b[0]), 8)
    check(waited < 8, "bus %s did not move to its second position" % vid)
    ll = page.eval("(function(){var m = cityMap.buses.get('%s').marker.getLatLng(); return [m.lat, m.lng];})()" % vid)
    check(abs(ll[0] - b[1]) < 1e-6 and abs(ll[1] - b[0]) < 1e-6, "marker at %r, posted %r" % (ll, b))
    clean(page, "city page after bus positions")


def t_city_indicators(ctx):
    page, srv = ctx["page"], ctx["srv"]
    names = ["share_predicted", "share_realtime", "share_signs", "share_electronic", "trips_active",
             "trips_predicted", "intersections", "realtime", "stops", "stops_with_signs", "rides",
             "electronic", "spaces_available", "lots", "vehicles", "lots_reporting"]
    last = None
    for _ in range(4):       # the page polls every 5 s: the two may straddle a change
        c = srv.get("/v1/city")
        api = {}
        for g in ("parking", "transit", "fares", "signals"):
            api.update(c.get(g, {}))
        page.pump(5.5)
        shown = page.eval("""(function (ns) { var o = {}; ns.forEach(function (n) {
            var e = document.querySelector('[data-kpi="' + n + '"]');
            o[n] = e ? e.getAttribute('data-value') : undefined; }); return o; })(%s)""" % json.dumps(names))
        c2 = srv.get("/v1/city")
        api2 = {}
        for g in ("parking", "transit", "fares", "signals"):
            api2.update(c2.get(g, {}))
        if api != api2:
            continue
        last = [(n, shown[n], api.get(n)) for n in names
                if shown[n] is None or shown[n] != ("" if api.get(n) is None else str(api.get(n)))
                and not (isinstance(api.get(n), (int, float)) and shown[n] not in ("", None)
                         and abs(float(shown[n]) - api.get(n)) < 1e-9)]
        if not last:
            return
    check(False, "indicators differ from /v1/city: %r" % (last,))


def t_city_panel(ctx):
    """The city alive: every lot counted, buses along the routes. The
    busiest panel lists the fullest lots of the API in order, the alerts
    name full lots; the screenshot in docs/ is this one."""
    page, srv = ctx["page"], ctx["srv"]
    lots = srv.get("/v1/parking/lots")["lots"]
    obs = []
    for i, l in enumerate(sorted(lots, key=lambda l: l["id"])):
        share = [0.0, 0.05, 0.2, 0.35, 0.5, 0.7, 0.9][(i * 5) % 7]
        obs.append({"id": "bt-panel-%d" % i, "lot": l["id"], "ts": int(time.time()),
                    "availableSpotNumber": int(l["totalSpotNumber"] * share)})
    srv.request("POST", "/v1/parking/observations", key="k-sensor", body={"observations": obs})
    routes = srv.get("/v1/transit/routes?format=geojson")["features"]
    ent, now = [], int(time.time())
    for r in routes:
        lines = r["geometry"]["coordinates"] if r["geometry"]["type"] == "MultiLineString" \
            else [r["geometry"]["coordinates"]]
        for k, line in enumerate(lines[:2]):
            for j in range(1, 6):
                lon, lat = line[len(line) * j // 6]
                vid = "bt-%s-%d-%d" % (r["properties"]["route_id"], k, j)
                ent.append({"id": vid, "vehicle": {"vehicle": {"id": vid}, "trip": {"route_id": r["properties"]["route_id"]},
                            "position": {"latitude": lat, "longitude": lon}, "timestamp": now}})
    srv.request("POST", "/v1/transit/vehicle-positions", key="k-sensor",
                body={"header": {"gtfs_realtime_version": "2.0", "timestamp": now}, "entity": ent})
    page.eval("cityMap.map.closePopup(); cityMap.fit(); true")
    page.pump(6)       # the panel follows /v1/city, read every 5 s
    api = [l for l in srv.get("/v1/parking/lots")["lots"] if not l["stale"] and l["occupancy"] is not None]
    api.sort(key=lambda l: (-l["occupancy"], l["id"]))
    shown = page.eval("Array.from(document.querySelectorAll('#busiest [data-lot]')).map(function (e) { return e.getAttribute('data-lot'); })")
    check(shown == [l["id"] for l in api[:8]], "busiest %r, API %r" % (shown, [l["id"] for l in api[:8]]))
    full = [l["id"] for l in api if l["status"] == "full"]
    alerts = page.eval("document.querySelectorAll('#alerts [data-alert=full_lot]').length")
    check(full and alerts >= 1, "%d full lots, %d full-lot alerts shown" % (len(full), alerts))
    buses = page.eval("cityMap.buses.size")
    check(buses >= len(ent), "%d buses posted, %d drawn" % (len(ent), buses))
    clean(page, "city page, alive")
    ctx["shots"].append(shot(page, "city", ctx["docs"]))


# Centre the map on [lat, lon] at zoom 17 and give the viewport point of
# it once drawn.
POINT_JS = r"""
(function (lat, lon) {
  var map = cityMap.map;
  map.closePopup();
  map.setView([lat, lon], 17, { animate: false });
  return new Promise(function (done) {
    requestAnimationFrame(function () { requestAnimationFrame(function () {
      var p = map.latLngToContainerPoint([lat, lon]), r = map.getContainer().getBoundingClientRect();
      done([r.left + p.x, r.top + p.y]);
    }); });
  });
})(%r, %r)
"""


def click_at(page, lat, lon):
    """A real mouse click (DevTools Input) on the map at lat, lon; the
    popup's HTML once one opens."""
    x, y = page.eval(POINT_JS % (lat, lon))
    page.wait_for("!document.querySelector('.leaflet-popup')", 3)    # the last one faded out
    for t in ("mouseMoved", "mousePressed", "mouseReleased"):
        page.send("Input.dispatchMouseEvent", type=t, x=x, y=y, button="left", clickCount=1)
    html, _ = page.wait_for("(document.querySelector('.leaflet-popup-content') || {}).innerHTML", 5)
    return html or ""


def t_city_click(ctx):
    """A click on a lot, a stop or a corridor opens it: a popup with the
    lot's figures, a link to the stop's sign, to the corridor's view --
    which opens."""
    page, srv = ctx["page"], ctx["srv"]
    lot = sorted(srv.get("/v1/parking/lots")["lots"], key=lambda l: l["id"])[10]
    html = click_at(page, lot["location"]["coordinates"][1], lot["location"]["coordinates"][0])
    check(lot["name"] in html and "/v1/parking/lots/%s" % lot["id"] in html,
          "click on lot %s: popup %r" % (lot["id"], html[:200]))
    # a stop with no lot or bus drawn within 50 m (they would be hit first)
    others = [(i[2], i[3]) for i in index_of(page, "lot") + index_of(page, "vehicle")]
    near = lambda c: any(abs(lat - c[1]) < 0.00045 and abs(lon - c[0]) < 0.00057 for lat, lon in others)
    stop = [f for f in srv.get("/v1/transit/stops?format=geojson")["features"]
            if not near(f["geometry"]["coordinates"])][0]
    c = stop["geometry"]["coordinates"]
    html = click_at(page, c[1], c[0])
    check('href="/stop/%s"' % stop["properties"]["stop_id"] in html,
          "click on stop %s: popup %r" % (stop["properties"]["stop_id"], html[:200]))
    cor = [f for f in srv.get("/v1/signals/corridors?format=geojson")["features"]
           if f["properties"]["id"] == "nandajie"][0]
    line = cor["geometry"]["coordinates"]
    k = len(line) // 2
    lon, lat = (line[k][0] + line[k - 1][0]) / 2, (line[k][1] + line[k - 1][1]) / 2
    html = click_at(page, lat, lon)
    check('href="/corridor/nandajie"' in html, "click on corridor nandajie: popup %r" % html[:200])
    page.eval("document.querySelector('.leaflet-popup-content a.open').click(); true")
    _, waited = page.wait_for("location.pathname === '/corridor/nandajie' && document.readyState === 'complete'", 10)
    check(waited < 10, "the corridor's link did not open its view")


def gtfs_rows(name):
    with open(os.path.join(GTFS, name), encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def weekday_morning():
    """The latest 08:00 in Yantai (UTC+8, no DST), not after now, on a day
    the demo's weekday service (WD) runs: the stop sign is opened "at" it,
    so that it has buses whatever the time the tests run."""
    cal = [r for r in gtfs_rows("calendar.txt") if r["service_id"] == "WD"][0]
    off = {r["date"] for r in gtfs_rows("calendar_dates.txt")
           if r["service_id"] == "WD" and r["exception_type"] == "2"}
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    d = time.gmtime(time.time() + 8 * 3600)
    at = calendar.timegm((d.tm_year, d.tm_mon, d.tm_mday, 0, 0, 0))     # 08:00 CST
    for _ in range(800):
        day = time.gmtime(at + 8 * 3600)
        ymd = time.strftime("%Y%m%d", day)
        if at <= time.time() and cal[days[day.tm_wday]] == "1" and \
                cal["start_date"] <= ymd <= cal["end_date"] and ymd not in off:
            return at
        at -= 86400
    raise Failure("no weekday of the demo timetable before now")


def bus_before(stop_id, at):
    """A WD trip reaching stop_id 2 to 20 min after `at`, and the last stop
    it has passed by `at` - 60: (trip, route, lon, lat)."""
    trips = {r["trip_id"]: r for r in gtfs_rows("trips.txt")}
    stops = {r["stop_id"]: r for r in gtfs_rows("stops.txt")}
    by_trip = {}
    for r in gtfs_rows("stop_times.txt"):
        by_trip.setdefault(r["trip_id"], []).append(r)
    secs = lambda hms: sum(int(x) * m for x, m in zip(hms.split(":"), (3600, 60, 1)))
    t = time.gmtime(at + 8 * 3600)
    now_s = t.tm_hour * 3600 + t.tm_min * 60
    for tid, rows in sorted(by_trip.items()):
        if trips[tid]["service_id"] != "WD":
            continue
        rows.sort(key=lambda r: int(r["stop_sequence"]))
        for i, r in enumerate(rows):
            if r["stop_id"] == stop_id and 120 <= secs(r["arrival_time"]) - now_s <= 1200:
                passed = [p for p in rows[:i] if secs(p["departure_time"]) <= now_s - 60]
                if passed:
                    s = stops[passed[-1]["stop_id"]]
                    return tid, trips[tid]["route_id"], float(s["stop_lon"]), float(s["stop_lat"])
    return None


def t_stop_sign(ctx):
    page, srv = ctx["page"], ctx["srv"]
    with open(os.path.join(ROOT, "maps", "yantai", "stop_signs.geojson")) as f:
        signs = json.load(f)["features"]
    sign = signs[0]["properties"]
    at = weekday_morning()
    # a bus on its way, a minute before: its arrival is predicted
    bus = bus_before(sign["stop_id"], at)
    check(bus is not None, "no trip reaches stop %s after %d" % (sign["stop_id"], at))
    srv.request("POST", "/v1/transit/vehicle-positions", key="k-sensor", body={
        "header": {"gtfs_realtime_version": "2.0", "timestamp": at - 60},
        "entity": [{"id": "sign-bus", "vehicle": {
            "trip": {"trip_id": bus[0], "route_id": bus[1]}, "vehicle": {"id": "bt-sign-bus"},
            "position": {"latitude": bus[3], "longitude": bus[2]}, "timestamp": at - 60}}]})
    before = srv.get("/v1/city")["transit"]["signs_live"]
    url = "/stop/%s?sign=%s&at=%d" % (sign["stop_id"], sign["id"], at)
    open_page(page, srv.base + url, 1280, 720)
    _, waited = page.wait_for("window.stopSign && stopSign.last() !== null", 10)
    check(waited < 10, "stop sign: no arrivals fetched")
    page.pump(1)
    rows = page.eval("""Array.from(document.querySelectorAll('#arrivals tr')).map(function (r) {
        return [r.getAttribute('data-trip'), r.getAttribute('data-predicted'), r.cells[0].textContent]; })""")
    t = page.eval("stopSign.now()")
    api = srv.get("/v1/transit/stops/%s/arrivals?minutes_after=90&at=%d" % (sign["stop_id"], at))
    due = lambda a: a["predicted_arrival"] if a["predicted"] and a["predicted_arrival"] is not None \
        else a["scheduled_arrival"]
    want = [a for a in api["arrivals"] if due(a) >= t - 30][:len(rows) if rows else 8]
    check(len(want) > 0, "the API lists no arrivals at stop %s at %d" % (sign["stop_id"], at))
    check(any(a["predicted"] and a["trip_id"] == bus[0] for a in want), "the bus's arrival is not predicted")
    check([r[0] for r in rows] == [a["trip_id"] for a in want],
          "sign rows %r, API %r" % ([r[0] for r in rows], [a["trip_id"] for a in want]))
    check([r[1] for r in rows] == ["true" if a["predicted"] else "false" for a in want],
          "predicted flags differ from the API")
    after = srv.get("/v1/city")["transit"]["signs_live"]
    check(after >= 1 and after >= before, "signs_live %d -> %d: the sign did not count as live" % (before, after))
    clean(page, "stop sign")
    ctx["shots"].append(shot(page, "stop", ctx["docs"]))


def t_corridor(ctx):
    page, srv = ctx["page"], ctx["srv"]
    cor = srv.get("/v1/signals/corridors/nandajie")
    n = len(cor["intersections"])
    open_page(page, srv.base + "/corridor/nandajie")
    _, waited = page.wait_for("document.querySelectorAll('#inters tr[data-status] .chip').length >= %d" % n, 10)
    check(waited < 10, "corridor: SPaT not shown for its %d intersections" % n)
    _, waited = page.wait_for("document.getElementById('tsd-running').getAttribute('data-cycle')", 10)
    check(waited < 10, "corridor: no time-space diagram of the running timing")
    clean(page, "corridor view")
    page.eval("document.getElementById('key').value = 'k-engineer'; document.getElementById('compute').click(); true")
    _, waited = page.wait_for("!document.getElementById('cand').hidden", 30)
    check(waited < 30, "corridor: no candidate plan (%s)" % page.eval("document.getElementById('opt-msg').textContent"))
    page.wait_for("document.getElementById('tsd-candidate').complete && document.getElementById('tsd-candidate').naturalWidth > 0", 10)
    page.eval("document.getElementById('activate').click(); true")
    _, waited = page.wait_for("/Activated/.test(document.getElementById('opt-msg').textContent)", 15)
    check(waited < 15, "corridor: plan not activated (%s)" % page.eval("document.getElementById('opt-msg').textContent"))
    plan = srv.get("/v1/signals/corridors/nandajie/plan")
    shown = page.eval("document.getElementById('cand-id').textContent")
    check(plan.get("id") == shown, "active plan %s, page activated %s" % (plan.get("id"), shown))
    page.pump(1.5)
    clean(page, "corridor view after compute and activate")
    ctx["shots"].append(shot(page, "corridor", ctx["docs"]))


TESTS = [t_city_loads, t_city_every_lot, t_city_lot_live, t_city_bus_moves, t_city_indicators,
         t_city_panel, t_city_click, t_stop_sign, t_corridor]


def main():
    docs = "--docs" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    tests = [t for t in TESTS if not only or any(o in t.__name__ for o in only)]
    failed, srv, browser = 0, None, None
    ctx = {"docs": docs, "shots": [], "notes": []}
    try:
        srv = Server()
        browser = cdp.Browser()
        ctx.update(srv=srv, page=browser.page)
    except Exception as e:                              # noqa: BLE001
        print("FAIL browser set-up: %s" % e)
        if srv:
            srv.stop()
        print("RESULT browser tests=%d failed=%d" % (len(tests) + 1, len(tests) + 1))
        return 1
    try:
        for t in tests:
            name = t.__name__[2:]
            try:
                t(ctx)
                print("PASS %s" % name)
            except Failure as e:
                failed += 1
                print("FAIL %s: %s" % (name, e))
            except Exception:                           # noqa: BLE001
                failed += 1
                print("FAIL %s: %s" % (name, traceback.format_exc().strip().splitlines()[-1]))
            sys.stdout.flush()
    finally:
        browser.close()
        # cityd (under ASan with make test SAN=1) stops cleanly: one more test
        why = srv.stop()
        print("PASS cityd_exit" if why is None else "FAIL cityd_exit: " + why)
        failed += why is not None
    for n in ctx["notes"]:
        print("note: " + n)
    for s in ctx["shots"]:
        print("screenshot: " + os.path.relpath(s, ROOT))
    print("RESULT browser tests=%d failed=%d" % (len(tests) + 1, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
