"""citysim_paired.py -- per-seed, paired comparison of adaptive control
against the best fixed plan (issue 13 item 2: is a cell worse beyond the
seeds' noise?). Uses citysim_corridor.py's loads and closed loops.

  run:     python3 tests/eval/citysim_paired.py run --corridor beimalu --seeds 10 \
               --out build/paired-beimalu.json [--levels near,peak] [--timings adaptive]
               [--citysim-args=--actuated --cityd-opts signals.local_control=actuated]
           (per seed and timing: total / outbound / inbound / cross delay s/veh)
  compare: python3 tests/eval/citysim_paired.py compare BASE.json [CAND.json]
           each adaptive timing (CAND's when given, else BASE's) against the
           fixed timing of BASE with the least mean total, seed by seed: the
           mean difference in % of the fixed plan's mean, and its standard
           error (sd of the per-seed differences / sqrt(n)); --against NAME:
           that fixed timing instead; --delta: CAND against BASE, timing by timing.
Same DATA / MAP conventions as citysim_corridor.sh.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import citysim_corridor as cc  # noqa: E402

DIRS = ("total", "outbound", "inbound", "cross")
FIXED = ("fixed Webster + green wave", "cityd fixed closed loop")
ADAPT = ("adaptive", "adaptive + plan")


def one(r):
    d = {"total": r["mean_delay_s"]}
    for k in DIRS[1:]:
        d[k] = r["directions"][k]["mean_delay_s"]
    return d


def closed(a, base, mode, seed, plan, extra):
    with cc.Stack(a.cityd, mode, a.corridor) as st:
        if plan:
            st.greenwave_plan()
        return one(cc.run(a.citysim, base + ["--seed", seed, "--server", st.base,
                                             "--key", cc.Stack.KEY] + extra))


def do_run(a):
    cc.Stack.MAP = os.path.abspath(a.map)
    cc.Stack.CITYD_OPTS = a.cityd_opts.split()
    tmp = tempfile.mkdtemp(prefix="citysim-paired-")
    plan_path = os.path.join(tmp, "plan.json")
    with cc.Stack(a.cityd, "fixed", a.corridor) as st:
        plan = st.greenwave_plan()
    with open(plan_path, "w") as f:
        json.dump(plan, f)
    one_min = ["--count-interval", "60"]
    timings = {
        FIXED[0]: lambda b, s: one(cc.run(a.citysim, b + ["--seed", s, "--plan", plan_path])),
        FIXED[1]: lambda b, s: closed(a, b, "fixed", s, False, []),
        ADAPT[0]: lambda b, s: closed(a, b, "adaptive", s, False, one_min),
        ADAPT[1]: lambda b, s: closed(a, b, "adaptive", s, True, one_min),
    }
    want = [t for t in timings if not a.timings or t in a.timings.split(",")]
    out = {}
    for name, factors in cc.LEVELS:
        if a.levels and not any(name.startswith(w) for w in a.levels.split(",")):
            continue
        loads = os.path.join(tmp, "loads.csv")
        info = cc.build_loads(a.data, os.path.join(a.map, "corridors.geojson"), loads,
                              factors, a.corridor)
        base = ["--map", a.map, "--corridor", a.corridor, "--loads", loads,
                "--duration", str(900 * len(factors)), "--start", info["start"],
                "--warmup", str(cc.WARMUP_S), "--lanes", "2"] + a.citysim_args.split()
        out[name] = {t: [timings[t](base, str(s)) for s in range(1, a.seeds + 1)]
                     for t in want}
        print(f"{a.corridor} {name}: done", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    with open(a.out, "w") as f:
        json.dump({"corridor": a.corridor, "levels": out}, f, indent=1)


def mean(xs):
    return sum(xs) / len(xs)


def do_compare(a):
    with open(a.base) as f:
        base = json.load(f)
    cand = base
    if a.cand:
        with open(a.cand) as f:
            cand = json.load(f)
    print(f"{base['corridor']}: adaptive against the best fixed plan, paired per seed, "
          "% of the fixed mean (± s.e.)")
    for lvl, rows in base["levels"].items():
        fixed = [t for t in FIXED if t in rows]
        best = min(fixed, key=lambda t: mean([r["total"] for r in rows[t]]))
        if a.against:
            best = a.against
        if a.delta:
            rows = {t: r for t, r in rows.items() if t in ADAPT}
        for t in ADAPT:
            if t not in cand["levels"].get(lvl, {}):
                continue
            if a.delta and t not in rows:
                continue
            ad, fx = cand["levels"][lvl][t], rows[t if a.delta else best]
            if a.delta:
                best = "the same in BASE"
            n = min(len(ad), len(fx))
            cells = []
            for d in DIRS:
                diffs = [ad[i][d] - fx[i][d] for i in range(n)]
                m = mean(diffs)
                sd = math.sqrt(sum((x - m) ** 2 for x in diffs) / (n - 1)) if n > 1 else 0
                fm = mean([fx[i][d] for i in range(n)])
                cells.append(f"{100 * m / fm:+.1f} ± {100 * sd / math.sqrt(n) / fm:.1f}")
            print(f"| {base['corridor']} | {lvl} | {t} vs {best} (n={n}) | "
                  + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--citysim", default="bin/citysim")
    r.add_argument("--cityd", default="bin/cityd")
    r.add_argument("--data", default=os.environ.get(
        "DATA", "../shared/data/signals/bentonville_ar_tmc_15min_2025-11-16_22.csv"))
    r.add_argument("--map", default="maps/yantai")
    r.add_argument("--seeds", type=int, default=10)
    r.add_argument("--corridor", default="nandajie")
    r.add_argument("--levels", default="")
    r.add_argument("--timings", default="", help="comma-separated full timing names")
    r.add_argument("--citysim-args", default="",
                   help="more citysim run options for every timing, e.g. --actuated")
    r.add_argument("--cityd-opts", default="",
                   help="cityd settings key=value for every closed loop, e.g. "
                        "signals.local_control=actuated")
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("base")
    c.add_argument("cand", nargs="?")
    c.add_argument("--against", help="this fixed timing instead of the best")
    c.add_argument("--delta", action="store_true",
                   help="CAND's adaptive timings against BASE's same timing")
    a = ap.parse_args()
    do_run(a) if a.cmd == "run" else do_compare(a)


if __name__ == "__main__":
    main()
