#!/usr/bin/env python3
"""perf_city.py -- what the city screen costs at Yantai's size, measured in
headless Chromium: 3,000 car parks (plus the demo's) and 2,500 buses.

A cityd of its own (the demo map) gets LOTS synthetic lots (PUT, spread
over the city's box) and a first count for each, then BUSES buses posted
as one GTFS-realtime feed every 2 s, each moved a little along its
heading. The page (/?perf=1) is opened at 1600x1000 and, once it has drawn
everything, watched for SECONDS while RATE lot observations a second
arrive over the SSE stream. Reported (ms):

  lots      one batch of stream events applied (once per animation frame)
  vehicles  one poll's positions applied (every 2 s), all chunks together;
            vehicle_chunks: one chunk (400 buses, one a frame);
            vehicles_wall: first chunk to last; parse: JSON.parse of the poll
  redraw    Leaflet's canvas redraw that follows (timed around
            L.Canvas._redraw)
  frames    the interval between animation frames (16.7 = 60 fps), while
            the updates arrive; frames_idle: the same page, nothing arriving
  longtasks main-thread tasks over 50 ms
  panel     (alone) indicators, chart, alerts and busiest lots refreshed

Usage: python3 tests/browser/perf_city.py [--lots N] [--buses N]
       [--seconds S] [--rate R]; prints a table and one JSON line.
Not part of make test (it takes a minute and wants the machine quiet).
"""
import argparse
import json
import math
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
from test_pages import Server, open_page  # noqa: E402

BOX = (121.25, 37.42, 121.50, 37.58)          # Yantai's urban area


def stats(xs):
    if not xs:
        return {"n": 0}
    xs = sorted(xs)
    q = lambda p: xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]
    return {"n": len(xs), "p50": round(q(0.5), 2), "p95": round(q(0.95), 2), "p99": round(q(0.99), 2),
            "max": round(xs[-1], 2), "mean": round(sum(xs) / len(xs), 2)}


def put_lots(srv, n, rng):
    for i in range(n):
        lon = rng.uniform(BOX[0], BOX[2])
        lat = rng.uniform(BOX[1], BOX[3])
        srv.request("PUT", "/v1/parking/lots/perf-%04d" % i, key="k-operator", body={
            "name": "测试停车场 %d" % i, "location": {"type": "Point", "coordinates": [lon, lat]},
            "totalSpotNumber": rng.choice([40, 80, 120, 200, 400, 800])})
    obs = [{"id": "p0-%d" % i, "lot": "perf-%04d" % i, "availableSpotNumber": rng.randint(0, 60),
            "ts": int(time.time())} for i in range(n)]
    for k in range(0, n, 1000):
        srv.request("POST", "/v1/parking/observations", key="k-sensor", body={"observations": obs[k:k + 1000]})


class Buses:
    def __init__(self, n, rng):
        self.rng = rng
        self.v = [[rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3]), rng.uniform(0, 2 * math.pi)]
                  for _ in range(n)]

    def post(self, srv):
        ts = int(time.time())
        ent = []
        for i, b in enumerate(self.v):
            b[0] += 0.00012 * math.cos(b[2])        # ~10 m a step
            b[1] += 0.00009 * math.sin(b[2])
            ent.append({"id": "e%d" % i, "vehicle": {"vehicle": {"id": "perf-bus-%04d" % i},
                        "position": {"latitude": b[1], "longitude": b[0], "bearing": math.degrees(b[2]) % 360},
                        "timestamp": ts}})
        srv.request("POST", "/v1/transit/vehicle-positions", key="k-sensor",
                    body={"header": {"gtfs_realtime_version": "2.0", "timestamp": ts}, "entity": ent})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, default=3000)
    ap.add_argument("--buses", type=int, default=2500)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--rate", type=int, default=100, help="lot observations a second")
    a = ap.parse_args()
    rng = random.Random(17)
    srv = Server(extra=["transit.max_batch=10000"])
    browser = None
    stop = threading.Event()
    try:
        t0 = time.time()
        put_lots(srv, a.lots, rng)
        buses = Buses(a.buses, rng)
        buses.post(srv)
        setup_s = time.time() - t0
        total_lots = len(srv.get("/v1/parking/lots")["lots"])
        # Page only: the Network and Log domains would instrument every
        # SSE event and request in the page's own thread.
        browser = cdp.Browser(domains=("Page",))
        page = browser.page
        open_page(page, srv.base + "/?perf=1")
        t1 = time.time()
        _, w1 = page.wait_for("document.querySelectorAll('#features [data-lot]').length >= %d" % total_lots, 120, 0.5)
        _, w2 = page.wait_for("cityMap.buses.size >= %d" % a.buses, 60, 0.5)
        first_draw_s = time.time() - t1
        page.eval("""(function () {
            var r = cityMap.renderer, orig = r._redraw;
            r._redraw = function () { var t = performance.now(); orig.apply(this, arguments);
                cityPerf.redraw = cityPerf.redraw || []; cityPerf.redraw.push({ms: performance.now() - t}); };
            ['lots', 'vehicles', 'vehicle_chunks', 'vehicles_wall', 'parse', 'frames', 'longtasks'].forEach(function (k) { cityPerf[k].length = 0; });
            return true; })()""")

        def feed():
            k = 0
            next_bus = time.time()
            while not stop.is_set():
                obs = [{"id": "p1-%d-%d" % (k, j), "lot": "perf-%04d" % rng.randrange(a.lots),
                        "availableSpotNumber": rng.randint(0, 60), "ts": int(time.time())}
                       for j in range(a.rate)]
                srv.request("POST", "/v1/parking/observations", key="k-sensor", body={"observations": obs})
                k += 1
                if time.time() >= next_bus:
                    buses.post(srv)
                    next_bus += 2
                stop.wait(1.0)

        # The same page with nothing arriving first: what a frame costs on
        # this machine anyway (a shared machine's load shows here too).
        page.pump(10)
        idle = page.eval("cityPerf.frames.map(function (x) { return x.ms; })")
        page.eval("cityPerf.frames.length = 0; cityPerf.longtasks.length = 0; cityPerf.tasks.length = 0; true")
        th = threading.Thread(target=feed, daemon=True)
        th.start()
        page.pump(a.seconds)
        stop.set()
        th.join()
        perf = page.eval("""(function () { var o = {}; ['lots', 'vehicles', 'vehicle_chunks', 'vehicles_wall', 'parse', 'redraw', 'frames', 'longtasks']
            .forEach(function (k) { o[k] = (cityPerf[k] || []).map(function (x) { return [x.ms, x.n || 0]; }); });
            return o; })()""")
        out = {"n_lots": total_lots, "n_buses": a.buses, "seconds": a.seconds, "obs_per_s": a.rate,
               "setup_s": round(setup_s, 1), "first_draw_s": round(first_draw_s, 1),
               "problems": page.problems[:5]}
        # The same work again, repeated on the page with nothing else
        # arriving: the least of 15 runs is what the work itself costs,
        # whatever else the machine is doing.
        bench = page.eval("""(async function () {
            var fc = await cityd.api('/v1/transit/vehicles?format=geojson'), r = cityMap.renderer;
            var out = {vehicles: [], redraw: [], lots: [], panel: []}, ids = Array.from(cityMap.lots.keys());
            var city = await cityd.api('/v1/city');
            var frame = function () { return new Promise(function (d) { requestAnimationFrame(d); }); };
            for (var k = 0; k < 15; k++) {
                fc.features.forEach(function (f) { f.geometry.coordinates[0] += 1e-5; });
                cityPerf.vehicles.length = 0;
                await cityMap.applyVehicles(fc);
                out.vehicles.push(cityPerf.vehicles[0].ms);
                await frame();
                var t = performance.now(); r._redrawBounds = null; r._redraw(); out.redraw.push(performance.now() - t);
                cityPerf.lots.length = 0;
                for (var j = 0; j < 100; j++) {
                    var e = cityMap.lots.get(ids[(k * 100 + j * 7) % ids.length]), l = Object.assign({}, e.lot);
                    l.status = l.status === 'full' ? 'spacesAvailable' : 'full';
                    cityMap.applyLot(l);
                }
                await frame(); await frame();
                if (cityPerf.lots.length) out.lots.push(cityPerf.lots[0].ms);
                t = performance.now(); cityMap.panel(city); out.panel.push(performance.now() - t);
            }
            return out; })()""", timeout=300)
        tasks = page.eval("cityPerf.tasks.filter(function (t) { return t.ms > 20; }).map(function (t) { return [t.name, Math.round(t.ms)]; })")
        for k, v in perf.items():
            out[k] = stats([x[0] for x in v])
        out["lots"]["events_per_batch"] = stats([x[1] for x in perf["lots"]])["p50"] if perf["lots"] else 0
        frames = [x[0] for x in perf["frames"]]
        out["frames"]["over_50ms"] = sum(1 for f in frames if f > 50)
        out["frames_idle"] = stats(idle)
        out["frames_idle"]["over_50ms"] = sum(1 for f in idle if f > 50)
        out["loadavg"] = os.getloadavg()[0]
        print("%-10s %6s %8s %8s %8s %8s" % ("ms", "n", "p50", "p95", "p99", "max"))
        for k in ("lots", "vehicles", "vehicle_chunks", "vehicles_wall", "parse", "redraw", "frames",
                  "frames_idle", "longtasks"):
            s = out[k]
            print("%-10s %6d %8s %8s %8s %8s" % (k, s["n"], s.get("p50", "-"), s.get("p95", "-"),
                                                   s.get("p99", "-"), s.get("max", "-")))
        for k in ("vehicles", "redraw", "lots", "panel"):
            out["bench_" + k] = stats(bench[k])
            out["bench_" + k]["min"] = round(min(bench[k]), 2) if bench[k] else None
        print("alone, 15 runs: %s" % "; ".join("%s min %s p50 %s" % (k, out["bench_" + k]["min"], out["bench_" + k].get("p50"))
                                             for k in ("vehicles", "redraw", "lots", "panel")))
        print("tasks over 20 ms:", tasks)
        print(json.dumps(out))
    finally:
        stop.set()
        if browser:
            browser.close()
        srv.stop()


if __name__ == "__main__":
    main()
