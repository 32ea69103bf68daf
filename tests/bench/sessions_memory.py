#!/usr/bin/env python3
# tests/bench/sessions_memory.py KEEP_SETTLED_S N -- cityd (replay clock, garage fixture,
# embedded Redis) takes N free stays one a minute; prints its RSS and the sessions it holds.
"""RSS of cityd after N short (free, so paid) stays, one a minute of replayed time, with
parking.keep_settled_s as given: 2592000 is the former 30 days, 3600 the default."""
import http.client, json, os, subprocess, sys, time, shutil, socket
keep, n = sys.argv[1], int(sys.argv[2])
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
d = os.path.join(root, 'build', 'sessions-memory-%s' % keep)
shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
p = subprocess.Popen([root + '/bin/cityd', '-c', root + '/config/cityd.conf',
                      '-o', 'server.listen=127.0.0.1:%d' % port, '-o', 'map.dir=' + root + '/tests/fixtures/maps/garage',
                      '-o', 'clock.mode=replay', '-o', 'redis.data_dir=' + d, '-o', 'redis.appendfsync=everysec',
                      '-o', 'auth.keys_file=' + root + '/config/keys.conf', '-o', 'parking.keep_settled_s=' + keep,
                      '-o', 'log.level=warn'], stderr=open(d + '/log', 'w'), cwd=root)
def rss():
    for l in open('/proc/%d/status' % p.pid):
        if l.startswith('VmRSS'):
            return int(l.split()[1]) / 1024
c = None
for i in range(200):
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=10); c.request('GET', '/v1/health'); r = c.getresponse(); r.read()
        if r.status == 200: break
    except Exception: pass
    time.sleep(0.1)
H = {'Authorization': 'Bearer demo-admin-key', 'Content-Type': 'application/json'}
def post(path, body):
    c.request('POST', path, json.dumps(body), H); r = c.getresponse(); r.read()
    assert r.status in (200, 201), (r.status, path)
t0 = 1764547200
r0 = rss()
for i in range(n):
    plate = '鲁F%05d' % (i % 5000)
    t = t0 + 60 * i
    post('/v1/parking/lots/it-g1/entries', {'id': 'e%d' % i, 'plate': plate, 'gate': 'N', 'ts': t})
    post('/v1/parking/lots/it-g1/exits', {'id': 'x%d' % i, 'plate': plate, 'gate': 'S', 'ts': t + 600})
time.sleep(3)
c.request('GET', '/metrics'); body = c.getresponse().read().decode()
kept = [l for l in body.split('\n') if l.startswith('cityd_parking_sessions_in_memory ')]
print('keep_settled_s=%s sessions=%d over %.1f days: cityd RSS %.0f MiB at start, %.0f MiB after; %s' % (
      keep, n, n * 60 / 86400, r0, rss(), kept[0] if kept else '?'))
p.terminate(); p.wait()
