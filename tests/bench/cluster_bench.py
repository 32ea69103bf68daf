#!/usr/bin/env python3
"""Redis Cluster benchmarks for `make bench` (docs/scaling.md): every
figure beside a baseline measured in the same run on the same machine.

    tests/bench/cluster_bench.py [--seconds 5] [--bin bin/cityd] [--lots 2000] [--rounds 3]

A local 3-master 3-replica cluster (tools/cluster.sh on free ports, AOF
appendfsync always) and cityd processes on it (replay clock, empty map),
beside one cityd on its embedded Redis (AOF always). Figures:
  - nearest-free queries/s with 1, 2 and 3 cityd on the cluster, beside 1
    cityd on the embedded Redis (one wrk per cityd, the connections split
    between them, summed; medians of --rounds alternating runs), and the
    CPU split of the run (cityd, Redis, wrk: on 2 cores they share, so the
    sum cannot scale);
  - observations/s durable (batches of 100, 8 clients) on the cluster with
    redis.wait_replicas 0 and 1, beside the embedded Redis;
  - failover time: a master killed (SIGKILL), observations posted to
    every lot in turn; from the kill to the first write on the victim's
    slots accepted (cityd waits the failover out), and to the first sweep
    over all lots with no stall."""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parking_bench import BOX, KEY, ROOT, Client, free_port, parallel, row, wait_port, wrk  # noqa: E402

TS = 1764400000


def port_free(p):
    import socket
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cluster_base():
    """A base port with base..base+5 and their bus ports free."""
    for _ in range(200):
        b = random.randrange(20000, 45000)
        if all(port_free(p) and port_free(p + 10000) for p in range(b, b + 6)):
            return b
    raise SystemExit("bench: no free ports for a cluster")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Cityd:
    def __init__(self, args, tmp, name, url, extra=()):
        self.port = free_port()
        d = os.path.join(tmp, name)
        os.makedirs(d, exist_ok=True)
        mapdir = os.path.join(tmp, "map")
        os.makedirs(mapdir, exist_ok=True)
        with open(os.path.join(mapdir, "parking.geojson"), "w") as f:
            json.dump({"type": "FeatureCollection", "features": []}, f)
        keys = os.path.join(tmp, "keys.conf")
        with open(keys, "w") as f:
            f.write("%s admin bench\n" % KEY)
        cmd = [args.bin, "-o", "server.listen=127.0.0.1:%d" % self.port, "-o", "redis.url=" + url,
               "-o", "redis.data_dir=" + d, "-o", "map.dir=" + mapdir, "-o", "auth.keys_file=" + keys,
               "-o", "clock.mode=replay", "-o", "log.level=warn", "-o", "redis.timeout_ms=5000"]
        for e in extra:
            cmd += ["-o", e]
        self.p = subprocess.Popen(cmd, stderr=open(os.path.join(d, "cityd.log"), "w"))
        wait_port(self.port)
        end = time.time() + 60
        while Client(self.port).call("GET", "/v1/parking/lots?bbox=0,0,0.1,0.1")[0] != 200:
            if time.time() > end:
                raise SystemExit("bench: cityd %s not ready" % name)
            time.sleep(0.05)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()


def redis_pids(dirs):
    out = []
    for d in dirs:
        try:
            with open(os.path.join(d, "redis.pid")) as f:
                out.append(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    return out


def nearest(cityds, points, seconds, conns, others):
    """Summed req/s of one wrk per cityd (conns split), and the CPU seconds
    used by cityd, Redis and wrk during the run."""
    script = os.path.join(ROOT, "tests", "bench", "nearest.lua")
    per = max(2, conns // len(cityds))
    procs = []
    c0 = [cpu_seconds(c.p.pid) for c in cityds]
    r0 = [cpu_seconds(p) for p in others]
    t_wrk = os.times()
    for c in cityds:
        procs.append(subprocess.Popen(
            ["wrk", "-t1", "-c%d" % per, "-d%ds" % seconds, "-s", script,
             "http://127.0.0.1:%d" % c.port, "--", points], stdout=subprocess.PIPE, text=True))
    total = 0.0
    for p in procs:
        out = p.communicate()[0]
        for line in out.splitlines():
            if line.startswith("Requests/sec:"):
                total += float(line.split()[1])
    t1 = os.times()
    cpu = {"cityd": sum(cpu_seconds(c.p.pid) for c in cityds) - sum(c0),
           "redis": sum(cpu_seconds(p) for p in others) - sum(r0),
           "wrk": (t1.children_user + t1.children_system) -
                  (t_wrk.children_user + t_wrk.children_system)}
    return total, cpu


def observations(port, lots, n_batches, rnd, tag):
    """Durable observations/s: batches of 100 over 8 connections."""
    jobs = []
    for b in range(n_batches):
        items = [{"id": "%s-%d-%d" % (tag, b, i), "lot": rnd.choice(lots),
                  "availableSpotNumber": rnd.randrange(10), "ts": TS + b} for i in range(100)]
        jobs.append(("POST", "/v1/parking/observations", json.dumps({"observations": items})))
    out, secs = parallel(port, jobs, 8)
    ok = sum(1 for st, _ in out if st == 200)
    return 100.0 * ok / secs, len(jobs) - ok


def put_lots(port, n, rnd):
    lots = []
    jobs = []
    for i in range(n):
        lid = "c-%05d" % i
        lots.append(lid)
        jobs.append(("PUT", "/v1/parking/lots/" + lid, json.dumps({
            "name": lid, "totalSpotNumber": 10,
            "location": {"type": "Point", "coordinates": [rnd.uniform(BOX[0], BOX[2]),
                                                          rnd.uniform(BOX[1], BOX[3])]}})))
    out, _ = parallel(port, jobs, 8)
    bad = [st for st, _ in out if st not in (200, 201)]
    if bad:
        raise SystemExit("bench: %d lot PUTs failed (%s)" % (len(bad), bad[:3]))
    return lots


def failover(cityd, lots, node_dir):
    """Kill the master of node_dir and post observations to every lot in
    turn (cityd waits a failover out, up to redis.timeout_ms, rather than
    refuse): a write that stalls (> 300 ms) is on the victim's slots.
    Returns the seconds from the kill to the end of the first stalled write
    that succeeded, to the first sweep over all lots without a stall, the
    stalled lots and the writes refused (503)."""
    with open(os.path.join(node_dir, "redis.pid")) as f:
        pid = int(f.read().strip())
    c = Client(cityd.port)
    t0 = time.time()
    os.kill(pid, signal.SIGKILL)
    stalled, refused, first_back, clean, n = set(), 0, None, None, 0
    while time.time() - t0 < 60 and clean is None:
        sweep_clean = True
        for lid in lots:
            body = json.dumps({"observations": [{"id": "fo-%d" % n, "lot": lid,
                                                 "availableSpotNumber": 1, "ts": TS + 10000 + n}]})
            n += 1
            t = time.time()
            st, _ = c.call("POST", "/v1/parking/observations", body)
            slow = time.time() - t > 0.3
            refused += st == 503
            if slow or st != 200:
                stalled.add(lid)
                sweep_clean = False
            if slow and st == 200 and first_back is None:
                first_back = time.time() - t0
        if sweep_clean and stalled:
            clean = time.time() - t0
    return first_back, clean, len(stalled), refused


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin", "cityd"))
    ap.add_argument("--lots", type=int, default=2000)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rnd = random.Random(16)
    tmp = tempfile.mkdtemp(prefix="cityd-cluster-bench-")
    base = cluster_base()
    cl = os.path.join(ROOT, "tools", "cluster.sh")
    cldir = os.path.join(tmp, "cluster")
    procs = []
    try:
        url = subprocess.run([cl, "start", "--base-port", str(base), "--dir", cldir],
                             capture_output=True, text=True, check=True).stdout.strip()
        time.sleep(2)                    # replicas listed in CLUSTER SLOTS
        node_dirs = [os.path.join(cldir, str(p)) for p in range(base, base + 6)]
        points = os.path.join(tmp, "points")
        with open(points, "w") as f:
            for _ in range(10000):
                f.write("%.6f %.6f\n" % (rnd.uniform(BOX[0], BOX[2]), rnd.uniform(BOX[1], BOX[3])))

        emb = Cityd(args, tmp, "embedded", "embedded")
        procs.append(emb)
        c1 = Cityd(args, tmp, "c1", url)
        procs.append(c1)
        lots = put_lots(c1.port, args.lots, rnd)
        put_lots(emb.port, args.lots, random.Random(16))
        c2 = Cityd(args, tmp, "c2", url)
        procs.append(c2)
        c3 = Cityd(args, tmp, "c3", url)
        procs.append(c3)

        print("== Redis Cluster (3 masters + 3 replicas, AOF always; %d lots; %d cores)"
              % (args.lots, os.cpu_count()))
        row("figure", "cluster", "baseline", "ratio", "")
        emb_redis = [int(l.split()[0]) for l in subprocess.run(
            ["pgrep", "-P", str(emb.p.pid)], capture_output=True,
            text=True).stdout.split()]
        groups = ((1, [c1]), (2, [c1, c2]), (3, [c1, c2, c3]))
        runs = {k: [] for k in (0, 1, 2, 3)}
        for _ in range(args.rounds):      # alternating, medians: the machine is shared
            runs[0].append(nearest([emb], points, args.seconds, args.conns, emb_redis))
            for k, group in groups:
                runs[k].append(nearest(group, points, args.seconds, args.conns,
                                       redis_pids(node_dirs)))

        def median(rs):
            return sorted(rs, key=lambda r: r[0])[len(rs) // 2]

        base_rps, bcpu = median(runs[0])
        for k, group in groups:
            rps, cpu = median(runs[k])
            row("nearest req/s, %d cityd on the cluster" % k, "%.0f" % rps, "%.0f" % base_rps,
                "%.2f" % (rps / base_rps),
                "CPU s cityd %.1f redis %.1f wrk %.1f (embedded: %.1f/%.1f/%.1f)"
                % (cpu["cityd"], cpu["redis"], cpu["wrk"], bcpu["cityd"], bcpu["redis"],
                   bcpu["wrk"]))
        c2.stop()
        c3.stop()
        procs.remove(c2)
        procs.remove(c3)

        nb = max(20, args.seconds * 20)
        emb_obs, _ = observations(emb.port, lots, nb, rnd, "e")
        obs0, f0 = observations(c1.port, lots, nb, rnd, "w0")
        c1.stop()
        procs.remove(c1)
        cw = Cityd(args, tmp, "cw", url, ["redis.wait_replicas=1"])
        procs.append(cw)
        obs1, f1 = observations(cw.port, lots, nb, rnd, "w1")
        row("observations/s durable, wait_replicas=0", "%.0f" % obs0, "%.0f" % emb_obs,
            "%.2f" % (obs0 / emb_obs), "failed batches %d" % f0)
        row("observations/s durable, wait_replicas=1", "%.0f" % obs1, "%.0f" % emb_obs,
            "%.2f" % (obs1 / emb_obs), "failed batches %d" % f1)
        cw.stop()
        procs.remove(cw)

        cf = Cityd(args, tmp, "cf", url)
        procs.append(cf)
        first, clean, nstalled, refused = failover(cf, lots[:64], node_dirs[0])
        row("failover: kill to first write on victim slots", "%.2f s" % (first or float("nan")),
            "", "", "%d of 64 lots stalled, %d writes refused (503); no stall after %s s"
            % (nstalled, refused, "%.2f" % clean if clean else "-"))
    finally:
        for p in procs:
            p.stop()
        subprocess.run([cl, "stop", "--base-port", str(base), "--dir", cldir],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
