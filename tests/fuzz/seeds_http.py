#!/usr/bin/env python3
"""seeds_http.py -- write the seed corpus of fuzz_http (tests/fuzz/corpus/http).

One seed is one or more requests separated by FUZZ_SEP; a request is a
selector byte (the index in ENDPOINTS of fuzz_http.c, which this list must
follow) and a payload: "<path parameter>\\n<body or query>" for paths with
"{}", else the body or query alone. $NOW, $AGO, $SID, $PLAN and $TOKEN are filled in by
the harness. Run from the repository root after changing ENDPOINTS."""
import os
import sys

SEP = b"\n--8<--\n"
EP = ["obs", "lot_put", "entry", "exit", "account", "payment", "webster", "greenwave",
      "corridor_greenwave", "plan_put", "counts_post", "mode_put", "positions_json",
      "positions_pb", "nearest", "lots", "lot", "bays", "screen", "sessions", "find_car",
      "vehicles", "vehicle", "stops_nearest", "arrivals", "trip_updates", "corridors",
      "corridor", "plan_get", "tsd", "counts_get", "timing", "spat", "advisory", "health",
      "kiosk_token", "find_car_token", "fares", "city", "signs", "stops", "stop", "routes",
      "route", "intersections", "intersection"]


def req(name, payload, raw=False):
    sel = EP.index(name) | (0x80 if raw else 0)
    return bytes([sel]) + (payload.encode() if isinstance(payload, str) else payload)


def seed(*reqs):
    return SEP.join(reqs)


ENTRY = '{"id":"e1","plate":"鲁B77777","gate":"g1","ts":$AGO}'
EXIT = '{"id":"x1","plate":"鲁B77777","gate":"g2","ts":$NOW}'
GW3 = ('{"intersections":[{"id":"a","position_m":0,"green_s":40},'
       '{"id":"b","position_m":400,"outbound_green_s":35,"inbound_green_s":30},'
       '{"id":"c","position_m":900,"green_s":45,"queue_clearance_s":3}],'
       '"cycle_s":80,"speed_mps":12.5,"objective":"equal"}')
GW_RANGE = ('{"intersections":[{"id":"a","position_m":0,"green_ratio":0.5},'
            '{"id":"b","position_m":350,"green_ratio":0.45},{"id":"c","position_m":700,"green_ratio":0.55}],'
            '"cycle_range_s":[60,100],"speed_range_mps":[11,14],"objective":"sum"}')
POS = ('{"header":{"gtfs_realtime_version":"2.0","timestamp":$NOW},"entity":[{"id":"e1","vehicle":'
       '{"trip":{"trip_id":"1-WD-0-0600","route_id":"1"},"vehicle":{"id":"bus-1"},'
       '"position":{"latitude":37.5473,"longitude":121.3608,"bearing":90,"speed":8},'
       '"timestamp":$NOW}},{"id":"e2","vehicle":{"vehicle":{"id":"bus-2"},"position":'
       '{"latitude":37.54,"longitude":121.39},"timestamp":$NOW}}]}')
LOT = ('fz-lot-1\n{"name":"Fuzz lot","location":{"type":"Point","coordinates":[121.39,37.54]},'
       '"totalSpotNumber":10,"category":["ev"],"levels":["B1"],"priceRatePerHour":5,'
       '"tariff":{"free_minutes":15,"rate_per_hour":6.0,"unit_minutes":30,"daily_cap":40.0,'
       '"night":{"from":"22:00","to":"07:00","rate_per_hour":1.0}},'
       '"bays":["b1",{"id":"b2","level":"B1","location":{"type":"Point","coordinates":[121.3901,37.5401]}}]}')
LOT_POLY = ('fz-lot-2\n{"name":"Polygon lot","type":"OnStreetParking","location":{"type":"Polygon",'
            '"coordinates":[[[121.39,37.54],[121.391,37.54],[121.391,37.541],[121.39,37.54]]]},'
            '"totalSpotNumber":4}')

SEEDS = {
    "obs": seed(req("obs", '{"observations":[{"id":"o1","lot":"yt-zf-0001","availableSpotNumber":40,"ts":$NOW},'
                    '{"id":"o2","lot":"yt-zf-0005","bay":"B1-001","status":"occupied","ts":$NOW,"plate":"鲁F12345"}]}')),
    "lot_put": seed(req("lot_put", LOT), req("lot", "fz-lot-1\n")),
    "lot_put_polygon": seed(req("lot_put", LOT_POLY)),
    "gate_cycle": seed(req("entry", "yt-zf-0005\n" + ENTRY), req("exit", "yt-zf-0005\n" + EXIT),
                       req("payment", '$SID\n{"id":"p1","amount":2.0,"method":"wechat"}'),
                       req("sessions", "plate=鲁B77777&status=paid")),
    "account": seed(req("account", '鲁F12345\n{"autopay":true,"pay_later":false}'),
                    req("account", 'FZ0001\n{"pay_later":true}'), req("account", '京A0000D\n{"autopay":false,"pay_later":true}')),
    "webster": seed(req("webster", '{"lost_time_s":16,"phases":[{"flow":500,"saturation_flow":1600},'
                        '{"flow_ratio":0.3}],"cycle_min_s":30,"cycle_max_s":180}')),
    "webster_fixed": seed(req("webster", '{"lost_time_s":10,"cycle_s":90,"phases":[{"flow":600,'
                              '"saturation_flow":1800,"green_s":40},{"flow":300,"saturation_flow":1700,"green_s":40}]}')),
    "greenwave": seed(req("greenwave", GW3)),
    "greenwave_range": seed(req("greenwave", GW_RANGE)),
    "corridor_plan": seed(req("corridor_greenwave", 'nandajie\n{"speed_mps":11}'),
                          req("plan_put", 'nandajie\n{"plan":"$PLAN"}'),
                          req("plan_get", "nandajie\n"), req("tsd", "nandajie\nplan=$PLAN")),
    "counts": seed(req("counts_post", 'nd-01\n{"id":"c1","ts":$AGO,"interval_s":900,"counts":'
                       '{"NBT":120,"SBT":100,"EBT":300,"WBT":280,"NBL":20,"EBL":15}}'),
                   req("counts_get", "nd-01\n"), req("timing", "nd-01\nat=$NOW")),
    "mode": seed(req("mode_put", 'nd-02\n{"mode":"adaptive","method":"max_pressure"}'),
                 req("spat", "nd-02\nat=$NOW"), req("mode_put", 'nd-02\n{"mode":"default"}')),
    "positions": seed(req("positions_json", POS), req("vehicle", "bus-1\n"),
                      req("arrivals", "1001E\nminutes_after=60"), req("trip_updates", "")),
    "nearest": seed(req("nearest", "lon=121.39&lat=37.54&radius_m=1000&limit=5&min_available=1"
                        "&include_stale=true&crs=gcj02&category=ev&max_price=10&at=$NOW")),
    "lots_bbox": seed(req("lots", "bbox=121.3,37.4,121.5,37.6&crs=wgs84")),
    "bays": seed(req("bays", "yt-zf-0005\nlevel=B1"), req("screen", "yt-scr-01\ncrs=gcj02")),
    "find_car": seed(req("obs", '{"observations":[{"id":"o3","lot":"yt-zf-0005","bay":"B1-002",'
                         '"status":"occupied","ts":$NOW,"plate":"鲁F54321"}]}'),
                     req("find_car", "plate=%E9%B2%81F54321&from=yt-zf-0005-K-B1-1", raw=True)),
    "find_car_token": seed(req("kiosk_token", "yt-zf-0005-K-B2-1\n"),
                           req("find_car_token", "plate=鲁F54321&from=yt-zf-0005-K-B2-1&token=$TOKEN")),
    "vehicles": seed(req("vehicles", "lon=121.36&lat=37.547&radius_m=2000"),
                     req("stops_nearest", "lon=121.36&lat=37.547&radius_m=500&limit=3")),
    "corridors": seed(req("corridors", "crs=gcj02"), req("corridor", "nandajie\n"),
                      req("tsd", "beimalu\ncycles=2")),
    "advisory": seed(req("advisory", "lon=121.3905&lat=37.5380&heading=90&speed=10")),
    "health": seed(req("health", "")),
    "raw_query": seed(req("nearest", "lon=121.39&lat=37.54&q=鲁%zz%", raw=True)),
    "city": seed(req("fares", '{"validations":[{"id":"v1","ts":$NOW,"vehicle_id":"bus-1",'
                     '"route_id":"1","stop_id":"1006E","method":"qr"},{"id":"v2","ts":$AGO,'
                     '"method":"cash"},{"id":"v1","ts":$NOW,"method":"qr"}]}'),
                 req("city", "at=$NOW"), req("signs", "format=geojson"),
                 req("arrivals", "1006E\nsign=yt-sign-1006E")),
    "lists": seed(req("stops", "format=geojson&bbox=121.3,37.4,121.5,37.6"),
                  req("stop", "1006E\ncrs=gcj02"), req("routes", "format=geojson"),
                  req("route", "1\n"), req("intersections", "format=geojson&at=$NOW"),
                  req("intersection", "nd-01\n"), req("lots", "format=geojson"),
                  req("vehicles", "format=geojson&include_stale=true"),
                  req("corridors", "format=geojson&crs=gcj02")),
}


def main():
    out = "tests/fuzz/corpus/http"
    os.makedirs(out, exist_ok=True)
    pb = "tests/fuzz/corpus/gtfsrt_pb/yantai_no_timestamp"   # a demo-city trip
    if os.path.exists(pb):
        SEEDS["positions_pb"] = seed(req("positions_pb", open(pb, "rb").read()),
                                     req("trip_updates", ""), req("vehicle", "bus-7\n"))
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
