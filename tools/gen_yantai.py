#!/usr/bin/env python3
"""gen_yantai.py -- writes the Yantai (烟台) demo city into maps/yantai/.

    python3 tools/gen_yantai.py [--out DIR] [--no-check]

Python 3 standard library only; the output is a pure function of this file
(no clock, no network, a fixed random seed), so running it twice gives
byte-identical files and the committed map can always be regenerated.

What it writes (formats: shared spec formats.md "Map folder", api.md §2-§4):
  parking.geojson    38 lots in Zhifu (芝罘区) and Laishan (莱山区), two garages
                     mapped for reverse car-finding (bays, aisles, lifts,
                     stairs, kiosks), street guidance screens
  corridors.geojson  南大街 (8 signalised intersections) and 北马路 (5)
  gtfs/              a static feed of four bus routes with shapes and a
                     weekday/weekend timetable
  stop_signs.geojson electronic stop signs at about a tenth of the stops (the
                     busiest, by scheduled calls)

The geography is hand-made from public knowledge of Yantai, not copied from
any map database: street alignments are approximations placed by hand in
WGS84 (not GCJ-02). See maps/yantai/README.md for what is real and what is
illustrative. After writing, tools/check_yantai.py validates the result."""

import argparse
import csv
import json
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_yantai as G  # noqa: E402  (geometry helpers + the validator)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# One projection for the whole city: street lengths, stop spacing, shapes.
CITY = G.Local(121.41, 37.50)

# ---------------------------------------------------------------------------
# Street network. Nodes are junctions or bends (WGS84 lon, lat); a street is
# an ordered node list. Bus shapes and the corridor lines are cut from these,
# so a bus on 南大街 and the signal corridor share one geometry.
# ---------------------------------------------------------------------------
NODES = {
    # 南大街, west -> east (西炮台南路 to 解放路, about 5 km)
    "ND0": (121.3505, 37.5421),   # 南大街西首 (西炮台南路)
    "ND0a": (121.3552, 37.5419),
    "ND1": (121.3598, 37.5414),   # 上夼西路
    "ND1a": (121.3647, 37.5411),
    "ND2": (121.3695, 37.5407),   # 青年路
    "ND2a": (121.3735, 37.5404),
    "ND3": (121.3772, 37.5401),   # 西南河路
    "ND3a": (121.3806, 37.5397),
    "ND4": (121.3838, 37.5395),   # 毓璜顶北路
    "ND5": (121.3886, 37.5392),   # 海港路
    "ND6": (121.3932, 37.5390),   # 胜利路
    "ND7": (121.3987, 37.5387),   # 大海阳路
    "ND8": (121.4040, 37.5383),   # 解放路
    "ND9": (121.4066, 37.5380),   # 南大街东段 (short continuation east)
    # 北马路, west -> east
    "BMW": (121.3556, 37.5471),
    "BM0": (121.3612, 37.5474),   # 芝罘屯路
    "BM1": (121.3697, 37.5478),   # 青年路
    "BM2": (121.3775, 37.5481),   # 西南河路
    "BM3": (121.3884, 37.5483),   # 海港路 (烟台站)
    "BM4": (121.3983, 37.5478),   # 大海阳路
    "BM5": (121.4036, 37.5470),   # 解放路 / 朝阳街
    "BM6": (121.4062, 37.5463),   # 北马路东首, 烟台山
    # 海港路 (南大街 -> 烟台站)
    "HG1": (121.3885, 37.5437),
    # 二马路 and 解放路
    "ER4": (121.3985, 37.5436),   # 二马路-大海阳路
    "ER5": (121.4038, 37.5432),   # 二马路-解放路
    "ER6": (121.4088, 37.5424),
    "ER7": (121.4133, 37.5410),
    "GH0": (121.4176, 37.5393),   # 二马路-观海路, 第一海水浴场 west end
    # 海岸路 / 滨海北路 around 烟台山 to the beach
    "HA1": (121.4083, 37.5449),   # 烟台山 east gate
    "HA2": (121.4120, 37.5428),   # 滨海广场
    "HA3": (121.4153, 37.5407),   # 第一海水浴场
    # 观海路, north -> south
    "GH0a": (121.4191, 37.5330),
    "GH0b": (121.4207, 37.5270),
    "GH1": (121.4226, 37.5215),   # 红旗中路 (鲁东大学)
    "GH1a": (121.4238, 37.5140),
    "GH1b": (121.4251, 37.5060),
    "YC0": (121.4264, 37.4985),   # 迎春大街 (佳世客)
    "GH2a": (121.4274, 37.4880),
    "GH2b": (121.4283, 37.4770),
    "GC0": (121.4290, 37.4668),   # 港城东大街
    # 迎春大街 and 清泉路 (莱山)
    "YC1": (121.4340, 37.4982),   # 莱山区政府
    "YC2": (121.4415, 37.4978),   # 清泉路
    "YC3": (121.4462, 37.4976),
    "QQ0": (121.4418, 37.4890),
    "QQ1": (121.4421, 37.4800),   # 烟台大学
    "GC1": (121.4425, 37.4665),   # 清泉路-港城东大街
    # 港城东大街 and 山海南路 to 烟台南站
    "GCW": (121.4150, 37.4672),   # 山海路
    "SH1": (121.4154, 37.4560),
    "SH2": (121.4160, 37.4430),
    "NZ": (121.4170, 37.4290),    # 烟台南站 (high-speed railway)
}

STREETS = {
    "nandajie": ["ND0", "ND0a", "ND1", "ND1a", "ND2", "ND2a", "ND3", "ND3a",
                 "ND4", "ND5", "ND6", "ND7", "ND8", "ND9"],
    "beimalu": ["BMW", "BM0", "BM1", "BM2", "BM3", "BM4", "BM5", "BM6"],
    "haigang": ["ND5", "HG1", "BM3"],
    "jiefang": ["ND8", "ER5", "BM5"],
    "ermalu": ["ER4", "ER5", "ER6", "ER7", "GH0"],
    "haian": ["BM6", "HA1", "HA2", "HA3", "GH0"],
    "guanhai": ["GH0", "GH0a", "GH0b", "GH1", "GH1a", "GH1b", "YC0", "GH2a",
                "GH2b", "GC0"],
    "yingchun": ["YC0", "YC1", "YC2", "YC3"],
    "qingquan": ["YC2", "QQ0", "QQ1", "GC1"],
    "gangcheng": ["GCW", "GC0", "GC1"],
    "shanhai": ["GCW", "SH1", "SH2", "NZ"],
}


def leg(street, a, b):
    """Node names of `street` from a to b inclusive, in travel order."""
    s = STREETS[street]
    i, j = s.index(a), s.index(b)
    return s[i:j + 1] if i <= j else list(reversed(s[j:i + 1]))


def path_nodes(legs):
    out = []
    for street, a, b in legs:
        seg = leg(street, a, b)
        if out and out[-1] != seg[0]:
            raise ValueError("legs do not join at %s/%s" % (out[-1], seg[0]))
        out.extend(seg if not out else seg[1:])
    return out


def on_street(street, node, metres):
    """Point `metres` from `node` along `street` (positive towards its end)."""
    coords = [NODES[n] for n in STREETS[street]]
    xy = [CITY.fwd(*c) for c in coords]
    cum = G.cumlen(xy)
    s0 = cum[STREETS[street].index(node)]
    p, _ = G.interpolate(xy, cum, s0 + metres)
    return CITY.inv(*p)


def densify(coords, step):
    """Insert points so that no two consecutive points are > step m apart."""
    out = [coords[0]]
    for a, b in zip(coords, coords[1:]):
        ax, ay = CITY.fwd(*a)
        bx, by = CITY.fwd(*b)
        n = max(1, int(math.ceil(math.hypot(bx - ax, by - ay) / step)))
        for k in range(1, n + 1):
            out.append(CITY.inv(ax + (bx - ax) * k / n, ay + (by - ay) * k / n))
    return out


def feature(geom_type, coords, props):
    return {"type": "Feature", "geometry": {"type": geom_type, "coordinates": coords},
            "properties": props}


# ---------------------------------------------------------------------------
# Parking: tariffs (CNY; api.md §2 tariff object)
# ---------------------------------------------------------------------------
def tariff(free, rate, unit, cap, night_rate, night=("22:00", "07:00")):
    return {"free_minutes": free, "rate_per_hour": rate, "unit_minutes": unit,
            "daily_cap": cap,
            "night": {"from": night[0], "to": night[1], "rate_per_hour": night_rate}}


TARIFFS = {
    # malls: first half hour free, then per half hour; capped per 24 h
    "mall": tariff(30, 4.0, 30, 40.0, 1.0),
    "mall_ls": tariff(60, 3.0, 30, 30.0, 1.0),
    "station": tariff(15, 5.0, 30, 50.0, 2.0),
    "hospital": tariff(30, 3.0, 60, 24.0, 1.0),
    "scenic": tariff(15, 6.0, 60, 40.0, 2.0),
    "surface": tariff(15, 3.0, 30, 25.0, 1.0),
    "public": tariff(30, 2.0, 60, 16.0, 0.5),
    # kerbside: class-1 streets of the old town, 15-minute units
    "street1": tariff(15, 4.0, 15, 30.0, 1.0, ("20:00", "07:00")),
    "street2": tariff(15, 3.0, 15, 24.0, 1.0, ("20:00", "07:00")),
}

# Opening hours by kind of lot (OpenStreetMap opening_hours syntax, as FIWARE's
# OffStreetParking.openingHours): malls close at night, stations and hospitals
# do not; kerbside bays are always there (charged by the street tariff).
HOURS = {
    "mall": "Mo-Su 08:00-23:00",
    "mall_ls": "Mo-Su 08:30-22:30",
    "station": "24/7",
    "hospital": "24/7",
    "scenic": "Mo-Su 06:00-22:00",
    "surface": "24/7",
    "public": "Mo-Su 07:00-21:00",
    "street1": "24/7",
    "street2": "24/7",
}

ONSTREET = ["onStreet", "feeCharged", "shortTerm"]

# id, name, name_en, geometry, totalSpotNumber, category, tariff, address
#   geometry: ("pt", lon, lat) or ("rect", lon, lat, width_m, depth_m, rot_deg)
LOTS = [
    # ---- 芝罘区 Zhifu ----
    ("yt-zf-0001", "烟台站北广场地下停车场", "Yantai Station North Square Underground",
     ("pt", 121.3883, 37.5506), 420, ["underground", "trainStation", "ev"], "station",
     "芝罘区北马路135号烟台站北广场"),
    ("yt-zf-0002", "烟台站南广场停车场", "Yantai Station South Square Car Park",
     ("rect", 121.3872, 37.5490, 70, 28, 1), 180, ["surface", "trainStation"], "station",
     "芝罘区北马路135号"),
    ("yt-zf-0003", "烟台大悦城地下停车场", "Yantai Joy City Underground Car Park",
     ("pt", 121.3913, 37.5471), 1400, ["underground", "shoppingCentre", "ev"], "mall",
     "芝罘区北马路150号"),
    ("yt-zf-0004", "烟台汽车总站停车场", "Yantai Coach Terminal Car Park",
     ("rect", 121.3829, 37.5490, 55, 30, 1), 120, ["surface"], "station",
     "芝罘区北马路"),
    # yt-zf-0005 (振华商厦, B1/B2) and yt-zf-0008 (毓璜顶医院停车楼, 1F-3F) are
    # the mapped garages, built by GARAGES below.
    ("yt-zf-0006", "芝罘万达广场地下停车场", "Zhifu Wanda Plaza Underground Car Park",
     ("pt", 121.3781, 37.5424), 1200, ["underground", "shoppingCentre", "ev"], "mall",
     "芝罘区西南河路"),
    ("yt-zf-0007", "毓璜顶医院地面停车场", "Yuhuangding Hospital Surface Car Park",
     ("pt", 121.3851, 37.5352), 160, ["surface", "hospital"], "hospital",
     "芝罘区毓璜顶东路20号"),
    ("yt-zf-0009", "烟台山景区停车场", "Yantai Hill Scenic Area Car Park",
     ("rect", 121.4074, 37.5456, 45, 25, -30), 90, ["surface"], "scenic",
     "芝罘区历新路烟台山景区东门"),
    ("yt-zf-0010", "朝阳街地下停车场", "Chaoyang Street Underground Car Park",
     ("pt", 121.4012, 37.5479), 260, ["underground", "ev"], "mall",
     "芝罘区朝阳街北马路口"),
    ("yt-zf-0011", "滨海广场地下停车场", "Binhai Square Underground Car Park",
     ("pt", 121.4113, 37.5437), 380, ["underground"], "scenic",
     "芝罘区滨海广场"),
    ("yt-zf-0012", "第一海水浴场停车场", "No. 1 Bathing Beach Car Park",
     ("rect", 121.4160, 37.5398, 80, 30, -35), 220, ["surface"], "scenic",
     "芝罘区海岸路第一海水浴场"),
    ("yt-zf-0013", "所城里停车场", "Suochengli Car Park",
     ("pt", 121.3963, 37.5403), 80, ["surface"], "surface",
     "芝罘区所城里历史文化街区"),
    ("yt-zf-0014", "烟台市博物馆停车场", "Yantai Museum Car Park",
     ("pt", 121.4022, 37.5392), 60, ["surface"], "public",
     "芝罘区南大街61号"),
    ("yt-zf-0015", "大润发南大街店地下停车场", "RT-Mart Nandajie Underground Car Park",
     ("pt", 121.3668, 37.5403), 450, ["underground", "shoppingCentre"], "mall",
     "芝罘区南大街166号"),
    ("yt-zf-0016", "南山公园停车场", "Nanshan Park Car Park",
     ("rect", 121.3902, 37.5228, 50, 30, 10), 150, ["surface"], "public",
     "芝罘区环山路南山公园"),
    ("yt-zf-0017", "鲁东大学停车场", "Ludong University Car Park",
     ("pt", 121.4247, 37.5232), 200, ["surface"], "public",
     "芝罘区红旗中路186号"),
    ("yt-zf-0018", "烟台山医院停车场", "Yantaishan Hospital Car Park",
     ("pt", 121.4050, 37.5420), 140, ["surface", "hospital"], "hospital",
     "芝罘区解放路91号"),
    ("yt-zf-0019", "海港路路侧停车泊位", "Haigang Road Kerbside Parking",
     ("pt", 121.3888, 37.5428), 24, ONSTREET, "street1", "芝罘区海港路(南大街-北马路)"),
    ("yt-zf-0020", "二马路路侧停车泊位", "Ermalu Kerbside Parking",
     ("pt", 121.4012, 37.5435), 36, ONSTREET, "street1", "芝罘区二马路(大海阳路-解放路)"),
    ("yt-zf-0021", "西南河路路侧停车泊位", "Xinanhe Road Kerbside Parking",
     ("pt", 121.3776, 37.5445), 30, ONSTREET, "street1", "芝罘区西南河路"),
    ("yt-zf-0022", "解放路路侧停车泊位", "Jiefang Road Kerbside Parking",
     ("pt", 121.4041, 37.5404), 20, ONSTREET, "street1", "芝罘区解放路(南大街-二马路)"),
    ("yt-zf-0023", "大马路路侧停车泊位", "Damalu Kerbside Parking",
     ("pt", 121.3962, 37.5493), 28, ONSTREET, "street2", "芝罘区大马路"),
    ("yt-zf-0024", "毓璜顶北路路侧停车泊位", "Yuhuangding North Road Kerbside Parking",
     ("pt", 121.3840, 37.5381), 18, ONSTREET, "street1", "芝罘区毓璜顶北路"),
    ("yt-zf-0025", "东炮台景区停车场", "East Battery Scenic Area Car Park",
     ("rect", 121.4330, 37.5303, 60, 35, -40), 160, ["surface"], "scenic",
     "芝罘区滨海路东炮台"),
    # ---- 莱山区 Laishan ----
    ("yt-ls-0001", "佳世客莱山店地下停车场", "AEON Laishan Underground Car Park",
     ("pt", 121.4286, 37.4957), 800, ["underground", "shoppingCentre", "ev"], "mall_ls",
     "莱山区迎春大街观海路口"),
    ("yt-ls-0002", "佳世客地面停车场", "AEON Laishan Surface Car Park",
     ("rect", 121.4281, 37.4971, 60, 20, 0), 150, ["surface", "shoppingCentre"], "mall_ls",
     "莱山区迎春大街"),
    ("yt-ls-0003", "莱山区政府停车场", "Laishan District Government Car Park",
     ("pt", 121.4342, 37.4994), 120, ["surface"], "public", "莱山区迎春大街"),
    ("yt-ls-0004", "烟台大学北门停车场", "Yantai University North Gate Car Park",
     ("pt", 121.4432, 37.4806), 160, ["surface"], "public", "莱山区清泉路30号"),
    ("yt-ls-0005", "烟台大学体育馆停车场", "Yantai University Gymnasium Car Park",
     ("rect", 121.4478, 37.4762, 50, 30, 5), 90, ["surface"], "public", "莱山区清泉路30号"),
    ("yt-ls-0006", "烟台南站地下停车场", "Yantai South Station Underground Car Park",
     ("pt", 121.4182, 37.4282), 900, ["underground", "trainStation", "ev"], "station",
     "莱山区烟台南站"),
    ("yt-ls-0007", "烟台南站P2地面停车场", "Yantai South Station P2 Surface Car Park",
     ("rect", 121.4196, 37.4266, 110, 70, 0), 600, ["surface", "trainStation"], "station",
     "莱山区烟台南站南广场"),
    ("yt-ls-0008", "烟台市民文化中心地下停车场", "Yantai Civic Cultural Centre Underground",
     ("pt", 121.4418, 37.4641), 500, ["underground", "ev"], "public", "莱山区港城东大街"),
    ("yt-ls-0009", "烟台体育公园停车场", "Yantai Sports Park Car Park",
     ("rect", 121.4318, 37.4712, 120, 60, 0), 400, ["surface"], "public", "莱山区观海路"),
    ("yt-ls-0010", "月亮湾停车场", "Moon Bay Car Park",
     ("pt", 121.4552, 37.4832), 120, ["surface"], "scenic", "莱山区滨海中路月亮湾"),
    ("yt-ls-0011", "迎春大街路侧停车泊位", "Yingchun Street Kerbside Parking",
     ("pt", 121.4378, 37.4977), 40, ONSTREET, "street2", "莱山区迎春大街(政府-清泉路)"),
    ("yt-ls-0012", "清泉路路侧停车泊位", "Qingquan Road Kerbside Parking",
     ("pt", 121.4416, 37.4905), 32, ONSTREET, "street2", "莱山区清泉路"),
    ("yt-ls-0013", "观海路路侧停车泊位", "Guanhai Road Kerbside Parking",
     ("pt", 121.4250, 37.5090), 26, ONSTREET, "street2", "莱山区观海路"),
]


def rect_ring(lon, lat, w, d, rot_deg):
    """Closed counter-clockwise ring of a w x d metre rectangle centred on lon/lat."""
    loc = G.Local(lon, lat)
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    ring = []
    for x, y in ((-w / 2, -d / 2), (w / 2, -d / 2), (w / 2, d / 2), (-w / 2, d / 2)):
        ring.append(G.rnd(loc.inv(x * c - y * s, x * s + y * c)))
    return ring + [ring[0]]


def lot_feature(lid, name, name_en, geom, total, category, tkey, address, levels=None):
    t = TARIFFS[tkey]
    onstreet = category is ONSTREET
    props = {"id": lid, "type": "OnStreetParking" if onstreet else "OffStreetParking",
             "name": name, "name_en": name_en, "totalSpotNumber": total,
             "category": list(category), "priceRatePerHour": t["rate_per_hour"],
             "priceCurrency": "CNY", "tariff": json.loads(json.dumps(t)),
             "address": address, "openingHours": HOURS[tkey]}
    if levels:
        props["levels"] = levels
    if geom[0] == "pt":
        return feature("Point", G.rnd(geom[1:3]), props)
    return feature("Polygon", [rect_ring(*geom[1:])], props)


# ---------------------------------------------------------------------------
# Garages for reverse car-finding (反向寻车).
#
# Local frame in metres: x along the bay rows, y across them. Bays are
# 2.5 m x 5 m; driving aisles are 6 m wide, so one module (row, aisle, row)
# is 16 m and modules sit back to back. Pedestrians walk on two marked
# walkways per driving aisle, 1 m in front of each bay row (2 m either side
# of the aisle centre), joined by zebra crossings every `cross_every` bays and
# by the walkways of the 6 m cross aisles at both ends. A bay's centre is
# therefore 3.5 m from its walkway. Lifts, stairs and the kiosk sit on
# spurs of that graph; every line is a 2-point segment, so junctions are
# always shared end points.
# ---------------------------------------------------------------------------
BAY_W, BAY_D, AISLE_W, MODULE = 2.5, 5.0, 6.0, 16.0


def garage_layout(n, k, cross_every):
    W = n * BAY_W
    xw, xe = -AISLE_W / 2, W + AISLE_W / 2                 # cross-aisle walkways
    ys = [MODULE * j for j in range(k)]                    # driving-aisle centres
    rails = sorted([y - 2.0 for y in ys] + [y + 2.0 for y in ys])
    ytop = ys[-1] + AISLE_W / 2 + BAY_D + 3.0              # lift lobby line
    ybot = ys[0] - AISLE_W / 2 - BAY_D - 3.0               # stair / entrance line
    xc = [BAY_W * cross_every * i for i in range(1, n) if 0 < BAY_W * cross_every * i < W - 1]
    return dict(n=n, k=k, W=W, xw=xw, xe=xe, ys=ys, rails=rails, ytop=ytop, ybot=ybot, xc=xc)


def garage_segments(L, entrance):
    """Walkway segments (pairs of local points) of one level."""
    segs = []
    for y in L["rails"]:                                   # walkways along the rows
        xs = [L["xw"]] + L["xc"] + [L["xe"]]
        segs += [((a, y), (b, y)) for a, b in zip(xs, xs[1:])]
    for y in L["ys"]:                                      # zebra crossings
        segs += [((x, y - 2.0), (x, y + 2.0)) for x in L["xc"]]
    for x in (L["xw"], L["xe"]):                           # cross aisles
        segs += [((x, a), (x, b)) for a, b in zip(L["rails"], L["rails"][1:])]
    top, bot = L["rails"][-1], L["rails"][0]
    segs.append(((L["xw"], top), (L["xw"], L["ytop"])))    # to the lift lobby
    segs.append(((L["xw"], L["ytop"]), (L["xw"] + 4.5, L["ytop"])))  # kiosk spur
    segs.append(((L["xe"], bot), (L["xe"], L["ybot"])))    # stair 1 (SE)
    segs.append(((L["xe"], top), (L["xe"], L["ytop"])))    # stair 2 (NE)
    if entrance:
        segs.append(((L["xw"], bot), (L["xw"], L["ybot"])))  # street entrance (SW)
    return segs


def garage_bays(L, level, skip):
    """Bay centres in numbering order: per aisle, south row then north row."""
    out, num = [], 0
    for j, y in enumerate(L["ys"]):
        for side, dy in (("S", -(AISLE_W / 2 + BAY_D / 2)), ("N", AISLE_W / 2 + BAY_D / 2)):
            for i in range(L["n"]):
                if (j, side, i) in skip:
                    continue
                num += 1
                out.append(("%s-%03d" % (level, num), (BAY_W * (i + 0.5), y + dy)))
    return out


GARAGES = [
    # 振华商厦: two basement levels under a department store on the south side
    # of 南大街 between 毓璜顶北路 and 海港路; the down ramp takes the last four
    # bays of the first row on both levels.
    dict(lot=("yt-zf-0005", "振华商厦地下停车场", "Zhenhua Department Store Underground Garage",
              ["underground", "shoppingCentre", "ev"], "mall", "芝罘区南大街振华商厦"),
         centre=(121.3862, 37.5388), rot=-4.0, n=20, k=3, cross_every=5,
         levels=["B1", "B2"], entrance=None,
         skip={"B1": {(0, "S", i) for i in range(16, 20)},
               "B2": {(0, "S", i) for i in range(16, 20)}},
         lift="商场直梯", stairs=("1号楼梯", "2号楼梯(南大街出口)")),
    # 毓璜顶医院立体停车楼: a three-storey car park north-west of the hospital;
    # the ground floor has the pedestrian entrance and pay booth (3 bays less),
    # the up ramp takes four bays on 2F and 3F.
    dict(lot=("yt-zf-0008", "毓璜顶医院立体停车楼", "Yuhuangding Hospital Multi-storey Car Park",
              ["multiStorey", "hospital", "ev"], "hospital", "芝罘区毓璜顶东路20号"),
         centre=(121.3826, 37.5362), rot=12.0, n=16, k=2, cross_every=4,
         levels=["1F", "2F", "3F"], entrance="1F",
         skip={"1F": {(0, "S", i) for i in range(3)},
               "2F": {(1, "N", i) for i in range(12, 16)},
               "3F": {(1, "N", i) for i in range(12, 16)}},
         lift="门诊楼连廊电梯", stairs=("1号楼梯", "2号楼梯")),
]


def build_garage(g):
    lid, name, name_en, category, tkey, address = g["lot"]
    L = garage_layout(g["n"], g["k"], g["cross_every"])
    # local garage frame -> metres around the centre -> WGS84
    x0, x1 = L["xw"] - AISLE_W / 2, L["xe"] + AISLE_W / 2
    y0, y1 = L["ybot"] - 3.0, L["ytop"] + 3.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    loc = G.Local(*g["centre"])
    c, s = math.cos(math.radians(g["rot"])), math.sin(math.radians(g["rot"]))

    def wgs(p):
        x, y = p[0] - cx, p[1] - cy
        return G.rnd(loc.inv(x * c - y * s, x * s + y * c))

    feats = []
    bays_total = 0
    for level in g["levels"]:
        for bid, p in garage_bays(L, level, g["skip"].get(level, set())):
            feats.append(feature("Point", wgs(p), {"kind": "bay", "id": bid, "lot": lid,
                                                   "level": level}))
            bays_total += 1
    for level in g["levels"]:
        for idx, (a, b) in enumerate(garage_segments(L, level == g["entrance"]), 1):
            feats.append(feature("LineString", [wgs(a), wgs(b)],
                                 {"kind": "aisle", "id": "%s-%s-a%03d" % (lid, level, idx),
                                  "lot": lid, "level": level}))
    lvls = list(g["levels"])
    conns = [("lift-A", "lift", g["lift"], (L["xw"], L["ytop"])),
             ("stairs-1", "stairs", g["stairs"][0], (L["xe"], L["ybot"])),
             ("stairs-2", "stairs", g["stairs"][1], (L["xe"], L["ytop"]))]
    for suffix, ctype, cname, p in conns:
        feats.append(feature("Point", wgs(p), {"kind": "connector", "id": "%s-%s" % (lid, suffix),
                                               "lot": lid, "levels": lvls,
                                               "type": ctype, "name": cname}))
    for level in lvls:
        feats.append(feature("Point", wgs((L["xw"] + 4.5, L["ytop"])),
                             {"kind": "kiosk", "id": "%s-K-%s-1" % (lid, level), "lot": lid,
                              "level": level, "name": "%s 电梯厅寻车机" % level}))
        if level == g["entrance"]:
            feats.append(feature("Point", wgs((L["xw"], L["ybot"])),
                                 {"kind": "kiosk", "id": "%s-K-%s-2" % (lid, level), "lot": lid,
                                  "level": level, "name": "%s 人行入口寻车机" % level}))
    ring = [wgs(p) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    if G.ring_area(ring) < 0:
        ring.reverse()
    lot = lot_feature(lid, name, name_en, ("pt", 0, 0), bays_total, category, tkey, address,
                      levels=lvls)
    lot["geometry"] = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    return lot, feats


# Street guidance screens (停车诱导屏) at major junctions: id, name, node, lots.
SCREENS = [
    ("yt-scr-01", "北马路海港路口诱导屏(烟台站)", "BM3", (-18, -14),
     ["yt-zf-0001", "yt-zf-0002", "yt-zf-0003", "yt-zf-0004"]),
    ("yt-scr-02", "南大街海港路口诱导屏", "ND5", (15, 14),
     ["yt-zf-0005", "yt-zf-0019", "yt-zf-0024", "yt-zf-0007"]),
    ("yt-scr-03", "南大街西南河路口诱导屏", "ND3", (-16, 14),
     ["yt-zf-0006", "yt-zf-0021", "yt-zf-0015"]),
    ("yt-scr-04", "南大街毓璜顶北路口诱导屏", "ND4", (14, -15),
     ["yt-zf-0008", "yt-zf-0007", "yt-zf-0005", "yt-zf-0024"]),
    ("yt-scr-05", "解放路二马路口诱导屏", "ER5", (14, 12),
     ["yt-zf-0018", "yt-zf-0020", "yt-zf-0022", "yt-zf-0014", "yt-zf-0010"]),
    ("yt-scr-06", "北马路朝阳街口诱导屏(烟台山)", "BM5", (16, -12),
     ["yt-zf-0009", "yt-zf-0010", "yt-zf-0011", "yt-zf-0023"]),
    ("yt-scr-07", "海岸路滨海广场诱导屏", "HA2", (12, 12),
     ["yt-zf-0011", "yt-zf-0012", "yt-zf-0009"]),
    ("yt-scr-08", "迎春大街观海路口诱导屏", "YC0", (15, 15),
     ["yt-ls-0001", "yt-ls-0002", "yt-ls-0003", "yt-ls-0011", "yt-ls-0013"]),
    ("yt-scr-09", "清泉路迎春大街口诱导屏", "YC2", (-14, -16),
     ["yt-ls-0012", "yt-ls-0011", "yt-ls-0003"]),
    ("yt-scr-10", "烟台南站进站路诱导屏", "NZ", (-15, 60),
     ["yt-ls-0006", "yt-ls-0007"]),
]


def build_parking():
    feats, extra = [], []
    garages = {g["lot"][0]: g for g in GARAGES}
    rows = sorted(LOTS + [(gid, None) for gid in garages], key=lambda r: r[0])
    for row in rows:
        if row[0] in garages:
            lot, gf = build_garage(garages[row[0]])
            feats.append(lot)
            extra += gf
        else:
            feats.append(lot_feature(*row))
    for sid, name, node, (dx, dy), lots in SCREENS:
        x, y = CITY.fwd(*NODES[node])
        feats.append(feature("Point", G.rnd(CITY.inv(x + dx, y + dy)),
                             {"kind": "screen", "id": sid, "name": name, "lots": lots}))
    return feats + extra


# ---------------------------------------------------------------------------
# Corridors and signalised intersections (api.md §4; UTDF movement names).
#
# A phase is given by its critical lane group: lanes x saturation flow per
# lane (1800 pcu/h through, 1650 left turn, 1700 shared left/right from a
# side road) and a typical weekday-peak design flow for that lane group.
# Minimum greens: the corridor phase carries pedestrians across the side
# road; side-road phases carry pedestrians across 南大街 in two stages (there
# is a central refuge), hence the modest values. Lost time 4 s per phase.
# ---------------------------------------------------------------------------
SAT = {"T": 1800, "L": 1650, "S": 1700}
MAJOR = ["EBT", "EBR", "WBT", "WBR"]


def ph(movements, lanes, kind, flow, min_green):
    return {"movements": movements, "saturation_flow": lanes * SAT[kind],
            "min_green_s": min_green, "flow": flow}


def cross4(major, mleft, minor, nleft):
    return [ph(MAJOR, *major), ph(["EBL", "WBL"], *mleft),
            ph(["NBT", "NBR", "SBT", "SBR"], *minor), ph(["NBL", "SBL"], *nleft)]


def cross3(major, mleft, minor):
    return [ph(MAJOR, *major), ph(["EBL", "WBL"], *mleft),
            ph(["NBT", "NBL", "NBR", "SBT", "SBL", "SBR"], *minor)]


def tee_south(major, wleft, side):
    """Side road to the south: westbound turns left into it, it turns both ways."""
    return [ph(["EBT", "EBR", "WBT"], *major), ph(["WBL"], *wleft), ph(["NBL", "NBR"], *side)]


def tee_north(major, eleft, side):
    return [ph(["EBT", "WBT", "WBR"], *major), ph(["EBL"], *eleft), ph(["SBL", "SBR"], *side)]


def cross2(major, minor):
    return [ph(["EBT", "EBL", "EBR", "WBT", "WBL", "WBR"], *major),
            ph(["NBT", "NBL", "NBR", "SBT", "SBL", "SBR"], *minor)]


# id, node, name, name_en, phases, pedestrian crossing (m, width of the
# corridor road), cycle_max
ND_ISECS = [
    ("nd-01", "ND1", "南大街-上夼西路", "Nandajie / Shangkuang West Rd",
     cross3((2, "T", 980, 18), (1, "L", 210, 8), (2, "T", 620, 18)), 24, 150),
    ("nd-02", "ND2", "南大街-青年路", "Nandajie / Qingnian Rd",
     cross4((3, "T", 1450, 20), (1, "L", 260, 8), (2, "T", 720, 20), (1, "L", 190, 8)), 32, 180),
    ("nd-03", "ND3", "南大街-西南河路", "Nandajie / Xinanhe Rd",
     cross4((3, "T", 1500, 20), (1, "L", 240, 8), (2, "T", 650, 20), (1, "L", 170, 8)), 32, 180),
    ("nd-04", "ND4", "南大街-毓璜顶北路", "Nandajie / Yuhuangding North Rd",
     tee_south((3, "T", 1420, 20), (1, "L", 230, 8), (2, "S", 520, 16)), 30, 150),
    ("nd-05", "ND5", "南大街-海港路", "Nandajie / Haigang Rd",
     tee_north((3, "T", 1480, 20), (1, "L", 300, 8), (2, "S", 610, 16)), 30, 150),
    ("nd-06", "ND6", "南大街-胜利路", "Nandajie / Shengli Rd",
     tee_south((3, "T", 1520, 20), (2, "L", 480, 10), (3, "S", 900, 18)), 30, 160),
    ("nd-07", "ND7", "南大街-大海阳路", "Nandajie / Dahaiyang Rd",
     cross4((3, "T", 1380, 20), (1, "L", 220, 8), (2, "T", 700, 20), (1, "L", 160, 8)), 30, 180),
    ("nd-08", "ND8", "南大街-解放路", "Nandajie / Jiefang Rd",
     cross4((2, "T", 900, 18), (1, "L", 200, 8), (2, "T", 760, 20), (1, "L", 180, 8)), 26, 180),
]

BM_ISECS = [
    ("bm-01", "BM0", "北马路-芝罘屯路", "Beimalu / Zhifutun Rd",
     cross2((2, "T", 1200, 18), (2, "T", 920, 16)), 24, 150),
    ("bm-02", "BM1", "北马路-青年路", "Beimalu / Qingnian Rd",
     cross3((2, "T", 950, 18), (1, "L", 220, 8), (2, "T", 640, 18)), 26, 150),
    ("bm-03", "BM3", "北马路-海港路(烟台站)", "Beimalu / Haigang Rd (Yantai Station)",
     cross4((3, "T", 1250, 20), (1, "L", 280, 8), (2, "T", 680, 20), (1, "L", 200, 8)), 30, 180),
    ("bm-04", "BM4", "北马路-大海阳路", "Beimalu / Dahaiyang Rd",
     cross2((2, "T", 1250, 18), (2, "T", 880, 16)), 24, 150),
    ("bm-05", "BM5", "北马路-解放路", "Beimalu / Jiefang Rd",
     cross3((2, "T", 860, 18), (1, "L", 190, 8), (2, "T", 700, 18)), 24, 150),
]

CYCLE_MIN = {2: 40, 3: 50, 4: 60}


def isec_feature(iid, node, name, name_en, phases, crossing, cmax):
    return feature("Point", G.rnd(NODES[node]), {
        "kind": "intersection", "id": iid, "name": name, "name_en": name_en,
        "phases": phases, "lost_time_s": 4 * len(phases),
        "cycle_min_s": CYCLE_MIN[len(phases)], "cycle_max_s": cmax,
        "pedestrian_crossing_m": crossing})


def build_corridors():
    feats = []
    for cid, name, name_en, street, isecs in (
            ("nandajie", "南大街", "Nandajie (South Main Street)", "nandajie", ND_ISECS),
            ("beimalu", "北马路", "Beimalu (North Horse Road)", "beimalu", BM_ISECS)):
        line = [G.rnd(NODES[n]) for n in STREETS[street]]
        feats.append(feature("LineString", line, {
            "kind": "corridor", "id": cid, "name": name, "name_en": name_en,
            "speed_kmh": 50, "intersections": [i[0] for i in isecs]}))
        feats += [isec_feature(*i) for i in isecs]
    return feats


# ---------------------------------------------------------------------------
# GTFS static feed: 烟台公交 routes 1, 10, 17 and 46.
#
# Each route is a chain of street legs; stops are named places on the street
# centre line (metres from a node along a street), and each direction gets
# its own platform 8 m to the right of the travel direction (China drives on
# the right), so opposite platforms have separate stop_ids and routes that
# pass the same place in the same direction share one.
# ---------------------------------------------------------------------------
STOP_OFFSET_M = 8.0

STOPS = {
    # 北马路 / 海岸路
    "芝罘屯": ("beimalu", "BM0", -40), "建设路": ("beimalu", "BM0", 380),
    "北马路青年路口": ("beimalu", "BM1", 35), "北马路西南河路口": ("beimalu", "BM2", 35),
    "北马路汽车站": ("beimalu", "BM2", 520), "烟台站": ("beimalu", "BM3", 25),
    "大悦城": ("beimalu", "BM3", 470), "北马路大海阳路口": ("beimalu", "BM4", 35),
    "朝阳街": ("beimalu", "BM5", -30), "烟台山": ("haian", "HA1", 0),
    "滨海广场": ("haian", "HA2", 0), "第一海水浴场": ("haian", "HA3", 30),
    # 南大街
    "南大街西首": ("nandajie", "ND0", 30), "世回尧": ("nandajie", "ND0a", 20),
    "上夼西路口": ("nandajie", "ND1", 35), "大润发": ("nandajie", "ND1a", 20),
    "青年路口": ("nandajie", "ND2", 35), "西南河路口": ("nandajie", "ND3", 30),
    "毓璜顶医院": ("nandajie", "ND4", 30), "海港路口": ("nandajie", "ND5", 30),
    "胜利路口": ("nandajie", "ND6", 30), "大海阳路口": ("nandajie", "ND7", 10),
    "烟台市博物馆": ("nandajie", "ND8", -50),
    # 二马路 / 解放路
    "解放路二马路口": ("ermalu", "ER5", 40), "烟台山医院": ("ermalu", "ER6", 0),
    "二马路东首": ("ermalu", "ER7", 0), "二马路观海路口": ("ermalu", "GH0", -30),
    # 观海路 (north -> south along the street)
    "观海路北口": ("guanhai", "GH0", 420), "烟台二中": ("guanhai", "GH0", 900),
    "上尧": ("guanhai", "GH0", 1450), "鲁东大学": ("guanhai", "GH1", 30),
    "黄务": ("guanhai", "GH1", 560), "观海小区": ("guanhai", "GH1", 1100),
    "南洋花园": ("guanhai", "GH1", 1650), "金都花园": ("guanhai", "GH1", 2150),
    "观海路迎春大街口": ("guanhai", "YC0", 30), "观海路中段": ("guanhai", "YC0", 640),
    "观海路南段": ("guanhai", "YC0", 1230), "银海路口": ("guanhai", "YC0", 1810),
    "烟台体育公园": ("guanhai", "YC0", 2400), "莱山国贸": ("guanhai", "YC0", 2960),
    "港城东大街观海路口": ("guanhai", "GC0", -30),
    # 迎春大街 / 清泉路
    "佳世客": ("yingchun", "YC0", 40), "莱山区政府": ("yingchun", "YC1", 30),
    "迎春大街清泉路口": ("qingquan", "YC2", 40), "清泉小区": ("qingquan", "YC2", 685),
    "新世界": ("qingquan", "YC2", 1330), "烟台大学": ("qingquan", "QQ1", 0),
    # 港城东大街 / 山海南路
    "港城东大街山海路口": ("gangcheng", "GCW", 30), "黄海城市花园": ("gangcheng", "GCW", 640),
    "烟台南站": ("shanhai", "NZ", -30), "南站北路": ("shanhai", "NZ", -560),
    "解甲庄": ("shanhai", "NZ", -1210), "院格庄": ("shanhai", "NZ", -1760),
    "莱山工业园": ("shanhai", "NZ", -2420), "莱山经济开发区": ("shanhai", "NZ", -3050),
    "山海南路北口": ("shanhai", "NZ", -3610),
}

# route_id, short name, long name, description, colour, legs, stop names (direction 0)
ROUTES = [
    ("1", "1", "芝罘屯—第一海水浴场", "Beimalu line, via Yantai Station and Yantai Hill",
     "D7000F",
     [("beimalu", "BMW", "BM6"), ("haian", "BM6", "GH0")],
     ["芝罘屯", "建设路", "北马路青年路口", "北马路西南河路口", "北马路汽车站", "烟台站",
      "大悦城", "北马路大海阳路口", "朝阳街", "烟台山", "滨海广场", "第一海水浴场"]),
    ("10", "10", "南大街西首—二马路观海路口", "Nandajie line, the whole of South Main Street",
     "0066B3",
     [("nandajie", "ND0", "ND8"), ("jiefang", "ND8", "ER5"), ("ermalu", "ER5", "GH0")],
     ["南大街西首", "世回尧", "上夼西路口", "大润发", "青年路口", "西南河路口", "毓璜顶医院",
      "海港路口", "胜利路口", "大海阳路口", "烟台市博物馆", "解放路二马路口", "烟台山医院",
      "二马路东首", "二马路观海路口"]),
    ("17", "17", "烟台站—烟台大学", "Zhifu to Laishan, via Guanhai Road and AEON",
     "00923F",
     [("beimalu", "BM3", "BM5"), ("jiefang", "BM5", "ER5"), ("ermalu", "ER5", "GH0"),
      ("guanhai", "GH0", "YC0"), ("yingchun", "YC0", "YC2"), ("qingquan", "YC2", "QQ1")],
     ["烟台站", "大悦城", "北马路大海阳路口", "朝阳街", "解放路二马路口", "烟台山医院",
      "二马路东首", "二马路观海路口", "观海路北口", "烟台二中", "上尧", "鲁东大学", "黄务",
      "观海小区", "南洋花园", "金都花园", "佳世客", "莱山区政府", "迎春大街清泉路口", "清泉小区",
      "新世界", "烟台大学"]),
    ("46", "46", "烟台南站—鲁东大学", "Yantai South high-speed station to Ludong University",
     "F39800",
     [("shanhai", "NZ", "GCW"), ("gangcheng", "GCW", "GC0"), ("guanhai", "GC0", "GH1")],
     ["烟台南站", "南站北路", "解甲庄", "院格庄", "莱山工业园", "莱山经济开发区", "山海南路北口",
      "港城东大街山海路口", "黄海城市花园", "港城东大街观海路口", "莱山国贸", "烟台体育公园",
      "银海路口", "观海路南段", "观海路中段", "观海路迎春大街口", "金都花园", "南洋花园",
      "观海小区", "黄务", "鲁东大学"]),
]

SHAPE_DIST_ROUTE = "17"       # the one route that publishes shape_dist_traveled
SPARSE_SEQ_ROUTE = "10"       # stop_sequence 10, 20, 30, ... on this route
MIDNIGHT_TRIP = ("1", 0, 23 * 3600 + 52 * 60)   # a late trip running past 24:00
# The demo must never run out of service (a calendar that ends leaves `make run` without
# a bus from the next day on): the service runs until the end of 2099. The output stays
# the same on every run (no date of today in it).
SERVICE_START, SERVICE_END = "20260101", "20991231"
# (date, name): weekday service removed, weekend service added instead
HOLIDAYS = [("20260101", "元旦"), ("20260216", "春节"), ("20260217", "春节"),
            ("20260218", "春节"), ("20260219", "春节"), ("20260220", "春节"),
            ("20261001", "国庆节"), ("20261002", "国庆节")]


def headway_min(svc, t):
    """Scheduled headway (minutes) of a departure at t seconds after midnight."""
    h = t / 3600.0
    if svc == "WD":
        if 7 <= h < 9 or 16.5 <= h < 19:
            return 8
        return 15 if h >= 19 else 12
    return 12 if 9 <= h < 18 else 15


def run_speed_kmh(svc, t):
    """Running speed between stops (dwell excluded) by time of day."""
    h = t / 3600.0
    if svc == "WD":
        if h < 7 or h >= 19:
            return 31.0
        if h < 9 or 16.5 <= h < 19:
            return 26.0
        return 28.0
    return 27.0 if 9 <= h < 19 else 30.0


def fmt_time(sec):
    return "%02d:%02d:%02d" % (sec // 3600, sec // 60 % 60, sec % 60)


class Feed:
    def __init__(self):
        self.base_ids = {}         # stop name -> base number
        self.stops = {}            # stop_id -> row
        self.rng = random.Random(20260101)

    def base_point(self, name):
        return on_street(*STOPS[name])

    def platform(self, name, xy, cum, s):
        """stop_id of the platform for a vehicle passing `name` at distance s."""
        if name not in self.base_ids:
            self.base_ids[name] = 1001 + len(self.base_ids)
        _, (dx, dy) = G.interpolate(xy, cum, s)
        bearing = math.degrees(math.atan2(dx, dy)) % 360
        side = "NESW"[int(((bearing + 45) % 360) // 90)]
        sid = "%d%s" % (self.base_ids[name], side)
        if sid not in self.stops:
            bx, by = CITY.fwd(*self.base_point(name))
            lon, lat = CITY.inv(bx + dy * STOP_OFFSET_M, by - dx * STOP_OFFSET_M)
            desc = {"N": "北行", "E": "东行", "S": "南行", "W": "西行"}[side]
            self.stops[sid] = [sid, name, desc, "%.7f" % lat, "%.7f" % lon, "0", "1"]
        return sid


def route_geometry(legs, names):
    """Shape polyline (cut 20 m beyond the terminals) and stop distances."""
    coords = [NODES[n] for n in path_nodes(legs)]
    xy = [CITY.fwd(*c) for c in coords]
    cum = G.cumlen(xy)
    dists = []
    for nm in names:
        s, off = G.project(xy, cum, CITY.fwd(*on_street(*STOPS[nm])))
        if off > 1.0:
            raise ValueError("stop %s is %.1f m off its route" % (nm, off))
        dists.append(s)
    a, b = max(0.0, dists[0] - 20), min(cum[-1], dists[-1] + 20)
    cut = [G.interpolate(xy, cum, a)[0]] + [p for p, c in zip(xy, cum) if a < c < b] + \
        [G.interpolate(xy, cum, b)[0]]
    return [CITY.inv(*p) for p in cut]


def build_gtfs():
    feed = Feed()
    shapes, trips, stop_times, routes = [], [], [], []
    for rid, short, long_name, desc, colour, legs, names in ROUTES:
        routes.append([rid, "YTGJ", short, long_name, desc, "3", colour, "FFFFFF"])
        fwd = densify(route_geometry(legs, names), 40.0)
        for direction, line, seq_names in ((0, fwd, names),
                                           (1, list(reversed(fwd)), list(reversed(names)))):
            shape_id = "%s-%d" % (rid, direction)
            xy = [CITY.fwd(*c) for c in line]
            cum = G.cumlen(xy)
            pub = rid == SHAPE_DIST_ROUTE
            for i, (c, d) in enumerate(zip(line, cum)):
                shapes.append([shape_id, "%.7f" % c[1], "%.7f" % c[0], str(i + 1),
                               "%.1f" % d if pub else ""])
            dist = [G.project(xy, cum, CITY.fwd(*feed.base_point(n)))[0] for n in seq_names]
            sids = [feed.platform(n, xy, cum, s) for n, s in zip(seq_names, dist)]
            # per-segment congestion factor and per-stop base dwell: fixed for
            # the route so that every trip of a time band runs the same times
            factor = [feed.rng.uniform(0.92, 1.15) for _ in dist]
            dwell = [feed.rng.randint(20, 25) for _ in dist]
            for svc in ("WD", "WE"):
                for t0 in departures(svc, rid, direction):
                    trips.append(make_trip(rid, svc, direction, shape_id, seq_names, t0))
                    stop_times += trip_times(trips[-1][2], svc, t0, sids, dist, factor,
                                             dwell, pub, rid == SPARSE_SEQ_ROUTE)
            if (rid, direction) == MIDNIGHT_TRIP[:2]:
                t0 = MIDNIGHT_TRIP[2]
                trips.append(make_trip(rid, "WD", direction, shape_id, seq_names, t0))
                stop_times += trip_times(trips[-1][2], "WD", t0, sids, dist, factor, dwell,
                                         pub, rid == SPARSE_SEQ_ROUTE)
    return feed, routes, trips, stop_times, shapes


def departures(svc, rid, direction):
    """Departure times from the first stop: 06:00 (weekends 06:30) to 21:00."""
    stagger = {"1": 0, "10": 2, "17": 4, "46": 6}[rid] * 60 + direction * 180
    t = (6 * 3600 if svc == "WD" else 6 * 3600 + 1800) + stagger
    out = []
    while t <= 21 * 3600:
        out.append(t)
        t += headway_min(svc, t) * 60
    return out


def make_trip(rid, svc, direction, shape_id, names, t0):
    tid = "%s-%s-%d-%s" % (rid, svc, direction, fmt_time(t0)[:5].replace(":", ""))
    return [rid, svc, tid, names[-1], str(direction), shape_id]


def trip_times(tid, svc, t0, sids, dist, factor, dwell, pub, sparse):
    rows, t = [], float(t0)
    for i, sid in enumerate(sids):
        if i:
            v = run_speed_kmh(svc, t) / 3.6
            t += (dist[i] - dist[i - 1]) / v * factor[i]
        arr = int(round(t))
        last = i == len(sids) - 1
        d = 0 if i == 0 or last else min(30, dwell[i] + (4 if run_speed_kmh(svc, t) < 27 else 0))
        dep = arr + d
        t = float(dep)
        seq = (i + 1) * 10 if sparse else i + 1
        rows.append([tid, fmt_time(arr), fmt_time(dep), sid, str(seq),
                     "%.1f" % dist[i] if pub else ""])
    return rows


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


SIGN_SHARE = 0.10          # the plan's target: electronic signs at 10 % of stops
SIGN_OFFSET_M = 2.0        # a sign stands beside its stop pole


def build_signs(feed, stop_times):
    """Signs at the busiest tenth of the stops (most scheduled calls, ties by
    stop id), one per stop: Points with id, stop_id and name."""
    calls = {}
    for row in stop_times:
        calls[row[3]] = calls.get(row[3], 0) + 1
    n = max(1, int(round(len(feed.stops) * SIGN_SHARE)))
    busiest = sorted(feed.stops, key=lambda s: (-calls.get(s, 0), s))[:n]
    feats = []
    for sid in sorted(busiest):
        row = feed.stops[sid]
        x, y = CITY.fwd(float(row[4]), float(row[3]))
        lon, lat = CITY.inv(x, y + SIGN_OFFSET_M)
        feats.append(feature("Point", G.rnd((lon, lat)),
                             {"id": "yt-sign-" + sid, "stop_id": sid,
                              "name": "%s %s 电子站牌" % (row[1], row[2])}))
    return feats


def write_gtfs(gdir):
    os.makedirs(gdir, exist_ok=True)
    feed, routes, trips, stop_times, shapes = build_gtfs()
    write_csv(os.path.join(gdir, "agency.txt"),
              ["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang",
               "agency_phone"],
              [["YTGJ", "烟台公交集团", "https://www.yantai.gov.cn/", "Asia/Shanghai", "zh",
                "0535-2917999"]])
    write_csv(os.path.join(gdir, "routes.txt"),
              ["route_id", "agency_id", "route_short_name", "route_long_name", "route_desc",
               "route_type", "route_color", "route_text_color"], routes)
    write_csv(os.path.join(gdir, "stops.txt"),
              ["stop_id", "stop_name", "stop_desc", "stop_lat", "stop_lon", "location_type",
               "wheelchair_boarding"], [feed.stops[k] for k in sorted(feed.stops)])
    write_csv(os.path.join(gdir, "trips.txt"),
              ["route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "shape_id"],
              trips)
    write_csv(os.path.join(gdir, "stop_times.txt"),
              ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
               "shape_dist_traveled"], stop_times)
    write_csv(os.path.join(gdir, "shapes.txt"),
              ["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence",
               "shape_dist_traveled"], shapes)
    write_csv(os.path.join(gdir, "calendar.txt"),
              ["service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
               "sunday", "start_date", "end_date"],
              [["WD", "1", "1", "1", "1", "1", "0", "0", SERVICE_START, SERVICE_END],
               ["WE", "0", "0", "0", "0", "0", "1", "1", SERVICE_START, SERVICE_END]])
    cd = []
    for date, _ in HOLIDAYS:
        cd += [["WD", date, "2"], ["WE", date, "1"]]
    write_csv(os.path.join(gdir, "calendar_dates.txt"),
              ["service_id", "date", "exception_type"], cd)
    write_csv(os.path.join(gdir, "feed_info.txt"),
              ["feed_publisher_name", "feed_publisher_url", "feed_lang", "feed_start_date",
               "feed_end_date", "feed_version"],
              [["cityd demo city (hand-made, illustrative)", "https://www.yantai.gov.cn/", "zh",
                SERVICE_START, SERVICE_END, "yantai-demo-1"]])
    return build_signs(feed, stop_times)


# ---------------------------------------------------------------------------
def write_geojson(path, feats):
    """One feature per line: compact, deterministic, diff-friendly."""
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"type": "FeatureCollection", "features": [\n')
        f.write(",\n".join(json.dumps(x, ensure_ascii=False, separators=(",", ":"))
                           for x in feats))
        f.write("\n]}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "maps", "yantai"))
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write_geojson(os.path.join(args.out, "parking.geojson"), build_parking())
    write_geojson(os.path.join(args.out, "corridors.geojson"), build_corridors())
    signs = write_gtfs(os.path.join(args.out, "gtfs"))
    write_geojson(os.path.join(args.out, "stop_signs.geojson"), signs)
    if args.no_check:
        return 0
    return G.main([args.out])


if __name__ == "__main__":
    sys.exit(main())
