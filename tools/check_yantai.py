"""check_yantai.py -- validates the Yantai demo city in maps/yantai/ (parking,
corridors, GTFS) and prints what it holds. Python 3 standard library only.

    python3 tools/check_yantai.py [maps/yantai]

Exit status 0 when every check passes, 1 otherwise (each problem printed with
file and feature id). tools/gen_yantai.py runs it after writing the map and
imports the geometry helpers below, so both use one notion of distance.

Everything is WGS84 [lon, lat]. Distances on the city scale (a few km) are
computed in a local equirectangular projection around a reference latitude,
which is accurate to well under 0.1 % over Yantai's urban core; that is far
below the tolerances the checks use (metres)."""

import math

R_EARTH = 6371008.8


def m_per_deg(lat):
    """Metres per degree of longitude and latitude at `lat` (WGS84 series)."""
    p = math.radians(lat)
    mlat = 111132.954 - 559.822 * math.cos(2 * p) + 1.175 * math.cos(4 * p)
    mlon = 111412.84 * math.cos(p) - 93.5 * math.cos(3 * p)
    return mlon, mlat


class Local:
    """Equirectangular projection centred on (lon0, lat0): metres east/north."""

    def __init__(self, lon0, lat0):
        self.lon0, self.lat0 = lon0, lat0
        self.kx, self.ky = m_per_deg(lat0)

    def fwd(self, lon, lat):
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky)

    def inv(self, x, y):
        return (self.lon0 + x / self.kx, self.lat0 + y / self.ky)


def haversine(a, b):
    (lon1, lat1), (lon2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_EARTH * math.asin(math.sqrt(h))


def seg_dist(p, a, b):
    """Distance from p to segment ab (planar tuples) and the parameter t."""
    ax, ay = a
    bx, by = b
    px, py = p
    dx, dy = bx - ax, by - ay
    L2 = dx * dx + dy * dy
    t = 0.0 if L2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / L2))
    qx, qy = ax + t * dx, ay + t * dy
    return math.hypot(px - qx, py - qy), t


def polyline_xy(proj, coords):
    return [proj.fwd(lon, lat) for lon, lat in coords]


def cumlen(xy):
    out = [0.0]
    for i in range(1, len(xy)):
        out.append(out[-1] + math.hypot(xy[i][0] - xy[i - 1][0], xy[i][1] - xy[i - 1][1]))
    return out


def project(xy, cum, p):
    """Linear referencing: (distance along, offset from line) of p on polyline xy."""
    best = (float("inf"), 0.0)
    for i in range(len(xy) - 1):
        d, t = seg_dist(p, xy[i], xy[i + 1])
        if d < best[0] - 1e-9:
            best = (d, cum[i] + t * (cum[i + 1] - cum[i]))
    return best[1], best[0]


def interpolate(xy, cum, s):
    """Point at distance s along the polyline, and the unit direction there."""
    s = max(0.0, min(cum[-1], s))
    for i in range(len(xy) - 1):
        if cum[i + 1] >= s and cum[i + 1] > cum[i]:
            t = (s - cum[i]) / (cum[i + 1] - cum[i])
            x = xy[i][0] + t * (xy[i + 1][0] - xy[i][0])
            y = xy[i][1] + t * (xy[i + 1][1] - xy[i][1])
            L = cum[i + 1] - cum[i]
            return (x, y), ((xy[i + 1][0] - xy[i][0]) / L, (xy[i + 1][1] - xy[i][1]) / L)
    raise ValueError("empty polyline")


def rnd(pt, nd=7):
    """Round a [lon, lat] to nd decimals (1e-7 deg ~ 1 cm) as a list."""
    return [round(pt[0], nd), round(pt[1], nd)]


def ring_area(ring):
    """Signed shoelace area in degrees^2 (> 0: counter-clockwise)."""
    a = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        a += x1 * y2 - x2 * y1
    return a / 2


# ---------------------------------------------------------------------------
# The checks. Each problem is reported as "file: feature: message".
# ---------------------------------------------------------------------------
import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402

BBOX = (121.30, 37.40, 121.50, 37.58)          # Zhifu + Laishan, generously
MOVES = {d + m for d in ("NB", "SB", "EB", "WB") for m in "LTR"}
TARIFF_KEYS = {"free_minutes", "rate_per_hour", "unit_minutes", "daily_cap", "night"}
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Report:
    def __init__(self):
        self.problems = []
        self.counts = []

    def bad(self, file, fid, msg):
        self.problems.append("%s: %s: %s" % (file, fid, msg))

    def need(self, cond, file, fid, msg):
        if not cond:
            self.bad(file, fid, msg)
        return cond


class UnionFind:
    def __init__(self):
        self.p = {}

    def find(self, a):
        self.p.setdefault(a, a)
        while self.p[a] != a:
            self.p[a] = self.p[self.p[a]]
            a = self.p[a]
        return a

    def union(self, a, b):
        self.p[self.find(a)] = self.find(b)


def in_bbox(pt):
    return BBOX[0] <= pt[0] <= BBOX[2] and BBOX[1] <= pt[1] <= BBOX[3]


def all_points(geom):
    t, c = geom["type"], geom["coordinates"]
    if t == "Point":
        return [c]
    if t == "LineString":
        return c
    if t == "Polygon":
        return [p for ring in c for p in ring]
    return []


def load_fc(rep, path):
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            fc = json.load(f)
    except (OSError, ValueError) as e:
        rep.bad(name, "-", "cannot read: %s" % e)
        return []
    if not rep.need(fc.get("type") == "FeatureCollection", name, "-", "not a FeatureCollection"):
        return []
    feats = fc.get("features", [])
    for i, ft in enumerate(feats):
        fid = ft.get("properties", {}).get("id", "#%d" % i)
        g = ft.get("geometry") or {}
        rep.need(g.get("type") in ("Point", "LineString", "Polygon"), name, fid,
                 "geometry type %r" % g.get("type"))
        for p in all_points(g):
            if not rep.need(len(p) == 2 and in_bbox(p), name, fid,
                            "coordinate %r outside Yantai (lon, lat order?)" % (p,)):
                break
    return feats


def check_tariff(rep, fid, t):
    f = "parking.geojson"
    if not rep.need(isinstance(t, dict) and set(t) == TARIFF_KEYS, f, fid, "tariff keys"):
        return
    for k in ("free_minutes", "rate_per_hour", "unit_minutes", "daily_cap"):
        rep.need(isinstance(t[k], (int, float)) and t[k] >= 0, f, fid, "tariff.%s" % k)
    rep.need(t["unit_minutes"] > 0, f, fid, "tariff.unit_minutes must be > 0")
    n = t["night"]
    rep.need(isinstance(n, dict) and HHMM.match(n.get("from", "")) and HHMM.match(n.get("to", ""))
             and isinstance(n.get("rate_per_hour"), (int, float)), f, fid, "tariff.night")


def check_parking(rep, mdir):
    f = "parking.geojson"
    feats = load_fc(rep, os.path.join(mdir, f))
    lots, screens, ids = {}, [], set()
    by_kind = defaultdict(list)
    for i, ft in enumerate(feats):
        p = ft["properties"]
        kind = p.get("kind")
        by_kind[kind].append(ft)
        fid = p.get("id", "#%d" % i)
        if kind in (None, "screen", "connector", "kiosk", "aisle"):
            rep.need(fid not in ids, f, fid, "duplicate id")
            ids.add(fid)
        if kind is None:
            lots[fid] = ft
    # ---- lots
    per_district = defaultdict(int)
    for lid, ft in lots.items():
        p = ft["properties"]
        m = re.match(r"^yt-(zf|ls)-\d{4}$", lid)
        if rep.need(m, f, lid, "lot id must look like yt-zf-0001 / yt-ls-0001"):
            per_district[m.group(1)] += 1
        rep.need(ft["geometry"]["type"] in ("Point", "Polygon"), f, lid, "lot geometry")
        rep.need(isinstance(p.get("name"), str) and p["name"], f, lid, "name")
        n = p.get("totalSpotNumber")
        rep.need(isinstance(n, int) and n > 0, f, lid, "totalSpotNumber")
        typ = p.get("type")
        rep.need(typ in ("OffStreetParking", "OnStreetParking"), f, lid, "type")
        if typ == "OnStreetParking":
            rep.need(10 <= n <= 60, f, lid, "kerbside segment of %s spots" % n)
        check_tariff(rep, lid, p.get("tariff"))
        if isinstance(p.get("tariff"), dict):
            rep.need(p.get("priceRatePerHour") == p["tariff"].get("rate_per_hour"), f, lid,
                     "priceRatePerHour differs from tariff.rate_per_hour")
        rep.need(isinstance(p.get("category"), list) and p["category"], f, lid, "category")
        # what a driver's app shows (api.md §2): address, English name, hours
        for key in ("address", "name_en", "openingHours"):
            rep.need(isinstance(p.get(key), str) and p[key], f, lid, key)
        rep.need(re.match(r"^(24/7|Mo-Su \d\d:\d\d-\d\d:\d\d)$", p.get("openingHours") or ""),
                 f, lid, "openingHours must be 24/7 or Mo-Su HH:MM-HH:MM")
    # ---- garages
    garage_stats = check_garages(rep, lots, by_kind)
    # ---- screens
    for ft in by_kind["screen"]:
        p = ft["properties"]
        sid = p.get("id")
        ls = p.get("lots", [])
        rep.need(2 <= len(ls) <= 5 and len(set(ls)) == len(ls), f, sid, "2-5 distinct lots")
        for lid in ls:
            if rep.need(lid in lots, f, sid, "unknown lot %s" % lid):
                d = haversine(ft["geometry"]["coordinates"], lot_point(lots[lid]))
                rep.need(d < 1500, f, sid, "lot %s is %.0f m away" % (lid, d))
        screens.append(sid)
    unknown = set(by_kind) - {None, "bay", "aisle", "connector", "kiosk", "screen"}
    rep.need(not unknown, f, "-", "unknown kinds %s" % sorted(map(str, unknown)))
    rep.need(len(lots) >= 30, f, "-", "only %d lots" % len(lots))
    rep.need(len(screens) >= 5, f, "-", "only %d screens" % len(screens))
    rep.counts.append("lots: %d (Zhifu %d, Laishan %d), on-street %d" % (
        len(lots), per_district["zf"], per_district["ls"],
        sum(1 for ft in lots.values() if ft["properties"].get("type") == "OnStreetParking")))
    rep.counts.extend(garage_stats)
    rep.counts.append("screens: %d" % len(screens))


def lot_point(ft):
    g = ft["geometry"]
    if g["type"] == "Point":
        return g["coordinates"]
    ring = g["coordinates"][0][:-1]
    return [sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)]


def check_garages(rep, lots, by_kind):
    f = "parking.geojson"
    stats = []
    per = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))  # lot -> level -> kind
    for kind in ("bay", "aisle", "kiosk"):
        for ft in by_kind[kind]:
            p = ft["properties"]
            lot, level = p.get("lot"), p.get("level")
            fid = p.get("id", "?")
            if not rep.need(lot in lots, f, fid, "unknown lot %r" % lot):
                continue
            levels = lots[lot]["properties"].get("levels") or []
            if rep.need(level in levels, f, fid, "level %r not in lot %s levels" % (level, lot)):
                per[lot][level][kind].append(ft)
    conns = defaultdict(list)
    for ft in by_kind["connector"]:
        p = ft["properties"]
        lot, fid = p.get("lot"), p.get("id")
        if not rep.need(lot in lots, f, fid, "unknown lot %r" % lot):
            continue
        levels = lots[lot]["properties"].get("levels") or []
        rep.need(len(p.get("levels", [])) >= 2 and set(p["levels"]) <= set(levels), f, fid,
                 "connector levels %r" % p.get("levels"))
        rep.need(p.get("type") in ("lift", "stairs"), f, fid, "connector type")
        conns[lot].append(ft)
    total_bays = total_aisles = 0
    for lot, ft in sorted(lots.items()):
        levels = ft["properties"].get("levels")
        if not levels:
            continue
        lp = lot_point(ft)
        proj = Local(lp[0], lp[1])
        types = {c["properties"]["type"] for c in conns[lot]}
        rep.need({"lift", "stairs"} <= types, f, lot, "needs a lift and a stair")
        bay_ids, nb_lot = set(), 0
        for level in levels:
            d = per[lot][level]
            bays, aisles, kiosks = d["bay"], d["aisle"], d["kiosk"]
            rep.need(40 <= len(bays) <= 120, f, lot, "%s has %d bays" % (level, len(bays)))
            rep.need(kiosks, f, lot, "%s has no kiosk" % level)
            segs, ends, uf = [], defaultdict(int), UnionFind()
            for a in aisles:
                c = a["geometry"]["coordinates"]
                rep.need(a["geometry"]["type"] == "LineString" and len(c) >= 2, f,
                         a["properties"].get("id"), "aisle must be a LineString")
                xy = [proj.fwd(*q) for q in c]
                segs += list(zip(xy, xy[1:]))
                ends[tuple(c[0])] += 1
                ends[tuple(c[-1])] += 1
                uf.union(tuple(c[0]), tuple(c[-1]))
            roots = {uf.find(e) for e in ends}
            rep.need(len(roots) == 1, f, lot, "%s aisle graph has %d components" %
                     (level, len(roots)))
            # a junction must be a shared end point, never a point inside a line
            for e in ends:
                ex = proj.fwd(*e)
                for a, b in segs:
                    if ex in (a, b):
                        continue
                    dd, t = seg_dist(ex, a, b)
                    if dd < 0.05 and 0 < t < 1:
                        rep.bad(f, lot, "%s: aisle end %r lies inside another aisle" %
                                (level, e))
                        break
            for b in bays:
                bid = b["properties"].get("id", "?")
                rep.need(bid.startswith(level + "-") and bid not in bay_ids, f, lot,
                         "bay id %s (duplicate or not prefixed by its level)" % bid)
                bay_ids.add(bid)
                bx = proj.fwd(*b["geometry"]["coordinates"])
                dmin = min(seg_dist(bx, a, c)[0] for a, c in segs) if segs else 1e9
                rep.need(dmin <= 4.0, f, lot, "bay %s is %.1f m from any aisle" % (bid, dmin))
            for k in kiosks:
                kp = tuple(k["geometry"]["coordinates"])
                kid = k["properties"].get("id")
                rep.need(kp in ends, f, kid, "kiosk not on an aisle end point")
                near = min((haversine(kp, c["geometry"]["coordinates"]) for c in conns[lot]
                            if level in c["properties"]["levels"]), default=1e9)
                rep.need(near <= 20 or kp in ends and ends[kp] == 1, f, kid,
                         "kiosk %.0f m from a lift/stair" % near)
            for c in conns[lot]:
                if level in c["properties"]["levels"]:
                    rep.need(tuple(c["geometry"]["coordinates"]) in ends, f,
                             c["properties"]["id"], "not on an aisle end point of %s" % level)
            nb_lot += len(bays)
            total_aisles += len(aisles)
        rep.need(nb_lot == ft["properties"]["totalSpotNumber"], f, lot,
                 "%d bays mapped but totalSpotNumber %d" % (nb_lot,
                                                            ft["properties"]["totalSpotNumber"]))
        total_bays += nb_lot
        stats.append("garage %s %s: levels %s, %d bays, %d connectors, %d kiosks" % (
            lot, ft["properties"]["name"], "/".join(levels), nb_lot, len(conns[lot]),
            sum(len(per[lot][lv]["kiosk"]) for lv in levels)))
    n_garages = sum(1 for ft in lots.values() if ft["properties"].get("levels"))
    rep.need(n_garages >= 2, f, "-", "only %d mapped garages" % n_garages)
    stats.insert(0, "garages: %d, bays: %d, aisle segments: %d" % (n_garages, total_bays,
                                                                   total_aisles))
    return stats


def webster(phases, lost):
    Y = sum(p["flow"] / p["saturation_flow"] for p in phases)
    return Y, ((1.5 * lost + 5) / (1 - Y) if Y < 1 else None)


def check_corridors(rep, mdir):
    f = "corridors.geojson"
    feats = load_fc(rep, os.path.join(mdir, f))
    isecs, cors, ids = {}, [], set()
    for i, ft in enumerate(feats):
        p = ft["properties"]
        fid = p.get("id", "#%d" % i)
        rep.need(fid not in ids, f, fid, "duplicate id")
        ids.add(fid)
        if p.get("kind") == "intersection":
            isecs[fid] = ft
        elif p.get("kind") == "corridor":
            cors.append(ft)
        else:
            rep.bad(f, fid, "unknown kind %r" % p.get("kind"))
    for iid, ft in isecs.items():
        p = ft["properties"]
        phases = p.get("phases", [])
        if not rep.need(2 <= len(phases) <= 4, f, iid, "2-4 phases"):
            continue
        seen = set()
        for k, ph in enumerate(phases):
            mv = ph.get("movements", [])
            rep.need(mv and set(mv) <= MOVES and not (set(mv) & seen), f, iid,
                     "phase %d movements %r" % (k + 1, mv))
            seen |= set(mv)
            rep.need(ph.get("saturation_flow", 0) > 0 and 0 < ph.get("flow", -1)
                     < ph["saturation_flow"] and ph.get("min_green_s", 0) > 0, f, iid,
                     "phase %d flow/saturation/min green" % (k + 1))
        rep.need({"EBT", "WBT"} <= set(phases[0]["movements"]), f, iid,
                 "first phase must carry the corridor through movements")
        rep.need(p.get("lost_time_s") == 4 * len(phases), f, iid, "lost_time_s")
        rep.need(40 <= p.get("cycle_min_s", 0) <= 60 and 150 <= p.get("cycle_max_s", 0) <= 180,
                 f, iid, "cycle bounds")
        Y, c0 = webster(phases, p["lost_time_s"])
        rep.need(c0 is not None and p["cycle_min_s"] <= c0 <= p["cycle_max_s"], f, iid,
                 "Webster cycle %s outside bounds (Y %.2f)" % (c0, Y))
        p["_webster"] = (Y, c0)
    used = set()
    for ft in cors:
        p = ft["properties"]
        cid = p.get("id")
        line = ft["geometry"]["coordinates"]
        rep.need(ft["geometry"]["type"] == "LineString", f, cid, "corridor must be a LineString")
        rep.need(p.get("speed_kmh", 0) > 0 and p.get("name"), f, cid, "name / speed_kmh")
        proj = Local(*line[0])
        xy = [proj.fwd(*q) for q in line]
        cum = cumlen(xy)
        last, desc = -1.0, []
        for iid in p.get("intersections", []):
            if not rep.need(iid in isecs, f, cid, "unknown intersection %s" % iid):
                continue
            used.add(iid)
            s, off = project(xy, cum, proj.fwd(*isecs[iid]["geometry"]["coordinates"]))
            rep.need(off <= 10, f, iid, "%.1f m from corridor %s" % (off, cid))
            rep.need(s > last, f, iid, "not after the previous intersection along %s" % cid)
            last = s
            Y, c0 = isecs[iid]["properties"].get("_webster", (0, 0))
            desc.append("%s@%.0fm(C0=%.0fs)" % (iid, s, c0 or 0))
        rep.counts.append("corridor %s %s: %.0f m, %d intersections: %s" % (
            cid, p.get("name"), cum[-1], len(desc), " ".join(desc)))
    rep.need(not set(isecs) - used, f, "-", "intersections on no corridor: %s" %
             sorted(set(isecs) - used))
    nd = [c for c in cors if c["properties"].get("id") == "nandajie"]
    rep.need(nd and len(nd[0]["properties"]["intersections"]) >= 8, f, "nandajie",
             "needs at least 8 intersections")


def read_csv(rep, gdir, name, required):
    path = os.path.join(gdir, name)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as e:
        rep.bad("gtfs/" + name, "-", str(e))
        return []
    cols = set(rows[0]) if rows else set()
    for c in required:
        rep.need(c in cols, "gtfs/" + name, "-", "missing column %s" % c)
    return rows


def secs(t):
    h, m, s = (int(x) for x in t.split(":"))
    return h * 3600 + m * 60 + s


def check_gtfs(rep, gdir):
    ag = read_csv(rep, gdir, "agency.txt", ["agency_name", "agency_url", "agency_timezone"])
    rt = read_csv(rep, gdir, "routes.txt", ["route_id", "route_type"])
    tr = read_csv(rep, gdir, "trips.txt", ["route_id", "service_id", "trip_id", "shape_id"])
    st = read_csv(rep, gdir, "stop_times.txt", ["trip_id", "arrival_time", "departure_time",
                                                "stop_id", "stop_sequence"])
    sp = read_csv(rep, gdir, "stops.txt", ["stop_id", "stop_name", "stop_lat", "stop_lon"])
    sh = read_csv(rep, gdir, "shapes.txt", ["shape_id", "shape_pt_lat", "shape_pt_lon",
                                            "shape_pt_sequence"])
    ca = read_csv(rep, gdir, "calendar.txt", ["service_id", "start_date", "end_date"])
    cd = read_csv(rep, gdir, "calendar_dates.txt", ["service_id", "date", "exception_type"])
    rep.need(ag and all(a["agency_timezone"] == "Asia/Shanghai" for a in ag), "gtfs/agency.txt",
             "-", "agency_timezone must be Asia/Shanghai")
    agencies = {a.get("agency_id", "") for a in ag}
    routes = {r["route_id"]: r for r in rt}
    for r in rt:
        rep.need(r.get("agency_id", "") in agencies, "gtfs/routes.txt", r["route_id"], "agency")
    services = {c["service_id"] for c in ca} | {c["service_id"] for c in cd}
    rep.need(any(c["exception_type"] == "2" for c in cd), "gtfs/calendar_dates.txt", "-",
             "no holiday removing service")
    stops = {s["stop_id"]: (float(s["stop_lon"]), float(s["stop_lat"])) for s in sp}
    shapes = defaultdict(list)
    for r in sh:
        shapes[r["shape_id"]].append(r)
    shape_geo = {}
    for sid, pts in shapes.items():
        seqs = [int(p["shape_pt_sequence"]) for p in pts]
        rep.need(seqs == sorted(set(seqs)), "gtfs/shapes.txt", sid, "pt_sequence not increasing")
        pts.sort(key=lambda p: int(p["shape_pt_sequence"]))
        ll = [(float(p["shape_pt_lon"]), float(p["shape_pt_lat"])) for p in pts]
        proj = Local(*ll[0])
        xy = [proj.fwd(*q) for q in ll]
        cum = cumlen(xy)
        dists = [p.get("shape_dist_traveled", "") for p in pts]
        if any(dists):
            dv = [float(x) for x in dists]
            rep.need(all(b >= a for a, b in zip(dv, dv[1:])), "gtfs/shapes.txt", sid,
                     "shape_dist_traveled decreasing")
            rep.need(abs(dv[-1] - cum[-1]) < 0.01 * cum[-1], "gtfs/shapes.txt", sid,
                     "shape_dist_traveled %.0f vs length %.0f" % (dv[-1], cum[-1]))
        gap = max(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(xy, xy[1:]))
        rep.need(gap <= 100, "gtfs/shapes.txt", sid, "shape points %.0f m apart" % gap)
        shape_geo[sid] = (proj, xy, cum)
    trips = {}
    for t in tr:
        tid = t["trip_id"]
        rep.need(tid not in trips, "gtfs/trips.txt", tid, "duplicate trip_id")
        trips[tid] = t
        rep.need(t["route_id"] in routes, "gtfs/trips.txt", tid, "unknown route")
        rep.need(t["service_id"] in services, "gtfs/trips.txt", tid, "unknown service")
        rep.need(t["shape_id"] in shape_geo, "gtfs/trips.txt", tid, "unknown shape")
    by_trip = defaultdict(list)
    for r in st:
        by_trip[r["trip_id"]].append(r)
    rep.need(set(by_trip) == set(trips), "gtfs/stop_times.txt", "-",
             "trips without stop_times or stop_times of unknown trips")
    over_midnight, used_stops = [], set()
    spacing, speeds, sparse_routes, dist_routes = [], [], set(), set()
    checked_shape_stop = {}
    for tid, rows in by_trip.items():
        if tid not in trips:
            continue
        rows.sort(key=lambda r: int(r["stop_sequence"]))
        seqs = [int(r["stop_sequence"]) for r in rows]
        rep.need(len(set(seqs)) == len(seqs), "gtfs/stop_times.txt", tid, "duplicate sequence")
        if seqs != list(range(1, len(seqs) + 1)):
            sparse_routes.add(trips[tid]["route_id"])
        prev = -1
        for r in rows:
            rep.need(r["stop_id"] in stops, "gtfs/stop_times.txt", tid, "unknown stop %s" %
                     r["stop_id"])
            used_stops.add(r["stop_id"])
            a, d = secs(r["arrival_time"]), secs(r["departure_time"])
            if not rep.need(prev <= a <= d, "gtfs/stop_times.txt", tid,
                            "times not monotonic at sequence %s" % r["stop_sequence"]):
                break
            prev = d
        if secs(rows[-1]["arrival_time"]) >= 24 * 3600:
            over_midnight.append(tid)
        proj, xy, cum = shape_geo.get(trips[tid]["shape_id"], (None, None, None))
        if proj is None:
            continue
        sd = [r.get("shape_dist_traveled", "") for r in rows]
        if any(sd):
            dist_routes.add(trips[tid]["route_id"])
        key = trips[tid]["shape_id"]
        if key in checked_shape_stop:   # geometry is the same for every trip of a shape
            along = checked_shape_stop[key]
            dur = secs(rows[-1]["arrival_time"]) - secs(rows[0]["departure_time"])
            speeds.append((tid, (along[-1] - along[0]) / dur * 3.6))
            continue
        along = []
        for r in rows:
            s, off = project(xy, cum, proj.fwd(*stops[r["stop_id"]]))
            rep.need(off <= 20, "gtfs/stops.txt", r["stop_id"], "%.0f m from shape %s" %
                     (off, key))
            along.append(s)
        rep.need(all(b > a for a, b in zip(along, along[1:])), "gtfs/stop_times.txt", key,
                 "stops not in order along the shape")
        if any(sd):
            for s, v in zip(along, sd):
                rep.need(abs(float(v) - s) < 15, "gtfs/stop_times.txt", key,
                         "shape_dist_traveled %s vs projected %.0f" % (v, s))
        checked_shape_stop[key] = along
        spacing += [b - a for a, b in zip(along, along[1:])]
        dur = secs(rows[-1]["arrival_time"]) - secs(rows[0]["departure_time"])
        speeds.append((tid, (along[-1] - along[0]) / dur * 3.6))
    for key, v in speeds:
        rep.need(18 <= v <= 25, "gtfs/trips.txt", key, "average speed %.1f km/h" % v)
    rep.need(spacing and 380 <= min(spacing) and max(spacing) <= 720, "gtfs/stops.txt", "-",
             "stop spacing %.0f-%.0f m" % (min(spacing or [0]), max(spacing or [0])))
    rep.need(not set(stops) - used_stops, "gtfs/stops.txt", "-", "unused stops %s" %
             sorted(set(stops) - used_stops))
    rep.need(len(over_midnight) >= 1, "gtfs/stop_times.txt", "-", "no trip past 24:00")
    rep.need(len(dist_routes) == 1, "gtfs/stop_times.txt", "-",
             "shape_dist_traveled on routes %s (want exactly one)" % sorted(dist_routes))
    rep.need(len(sparse_routes) >= 1, "gtfs/stop_times.txt", "-", "no non-contiguous sequence")
    # headways of the weekday daytime timetable, per route and direction
    deps = defaultdict(list)
    for tid, t in trips.items():
        if t["service_id"] == "WD" and by_trip[tid]:
            t0 = secs(min(by_trip[tid], key=lambda r: int(r["stop_sequence"]))["departure_time"])
            if 6 * 3600 <= t0 <= 21 * 3600:
                deps[(t["route_id"], t["direction_id"])].append(t0)
    for k, v in sorted(deps.items()):
        v.sort()
        hw = [(b - a) / 60 for a, b in zip(v, v[1:])]
        rep.need(hw and 8 <= min(hw) and max(hw) <= 15, "gtfs/trips.txt", "%s/%s" % k,
                 "weekday headways %s-%s min" % (min(hw or [0]), max(hw or [0])))
    rep.need(len(routes) >= 3, "gtfs/routes.txt", "-", "fewer than 3 routes")
    rep.counts.append("gtfs: %d routes, %d trips (%d weekday), %d stops, %d stop_times, "
                      "%d shapes; stop spacing %.0f-%.0f m (mean %.0f); trip speeds "
                      "%.1f-%.1f km/h; past midnight: %s; shape_dist_traveled: route %s; "
                      "sparse stop_sequence: route %s" % (
                          len(routes), len(trips),
                          sum(1 for t in trips.values() if t["service_id"] == "WD"),
                          len(stops), len(st), len(shapes), min(spacing or [0]),
                          max(spacing or [0]), sum(spacing) / max(1, len(spacing)),
                          min(v for _, v in speeds), max(v for _, v in speeds),
                          ",".join(over_midnight), ",".join(sorted(dist_routes)),
                          ",".join(sorted(sparse_routes))))


def check_signs(rep, mdir):
    """stop_signs.geojson: Points with unique ids, each at a stop of the feed
    (within 30 m of it), at about a tenth of the stops (the plan's target)."""
    f = "stop_signs.geojson"
    feats = load_fc(rep, os.path.join(mdir, f))
    stops = {r["stop_id"]: r for r in read_csv(rep, os.path.join(mdir, "gtfs"), "stops.txt",
                                                ["stop_id", "stop_lat", "stop_lon"])}
    ids, at = set(), set()
    for i, ft in enumerate(feats):
        p = ft.get("properties", {})
        fid = p.get("id", "#%d" % i)
        rep.need(isinstance(p.get("id"), str) and p["id"] not in ids, f, fid,
                 "missing or duplicate id")
        ids.add(p.get("id"))
        g = ft.get("geometry") or {}
        if not rep.need(g.get("type") == "Point", f, fid, "geometry must be a Point"):
            continue
        s = stops.get(p.get("stop_id"))
        if not rep.need(s is not None, f, fid, "stop_id %r not in gtfs/stops.txt"
                        % p.get("stop_id")):
            continue
        at.add(p["stop_id"])
        d = haversine(g["coordinates"], (float(s["stop_lon"]), float(s["stop_lat"])))
        rep.need(d <= 30, f, fid, "%.0f m from its stop" % d)
    share = len(at) / max(1, len(stops))
    rep.need(0.08 <= share <= 0.15, f, "-", "signs at %.0f %% of the stops (about 10 %% wanted)"
             % (100 * share))
    rep.counts.append("stop signs: %d at %d of %d stops (%.1f %%)" % (
        len(feats), len(at), len(stops), 100 * share))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    mdir = argv[0] if argv else os.path.join(root, "maps", "yantai")
    rep = Report()
    check_parking(rep, mdir)
    check_corridors(rep, mdir)
    check_gtfs(rep, os.path.join(mdir, "gtfs"))
    check_signs(rep, mdir)
    for c in rep.counts:
        print(c)
    for p in rep.problems:
        print("PROBLEM " + p)
    print("check_yantai: %d problems" % len(rep.problems))
    return 1 if rep.problems else 0


if __name__ == "__main__":
    sys.exit(main())
