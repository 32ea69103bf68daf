#!/usr/bin/env python3
"""derive_profiles.py -- the demand profiles of `citysim city`, from real recordings.

Reads ../shared/data (not part of the repository, see its README):
  parking/dresden/   36 Dresden car parks, free spaces every 5-15 min for the week
                     2023-05-08 (Mon) .. 2023-05-14 (Sun), UTC; local time is UTC+2
  signals/bentonville_ar_tmc_15min_2025-11-16_22.csv   15-min turning counts,
                     5 intersections x 7 days (Sun 16 .. Sat 22 Nov 2025), local time
and writes src/demand_profiles.c: occupancy per 15-minute slot (96) per day of week (0 =
Sunday) per lot class, and the share of a day's detector counts per slot per day of week.

How (also in docs/citysim.md):
- Parking: occupancy = 1 - free / capacity, capacity = max(listed, largest free count seen)
  (10 lots report more free spaces than listed), readings clamped to [0, 1]; lots are put in
  classes by what they serve (names below); each lot's week of 15-minute slots has its
  gaps filled by circular linear interpolation and is smoothed with a 5-slot moving average (readings are
  5-15 min apart, some lots miss hours); a class's occupancy is the mean of its lots.
  Classes measured: shopping (4 galleries), station (Hauptbahnhof), centre (20 old-town car
  parks), office (World Trade Center + 7 park-and-ride lots). Classes not in the data are
  made from measured ones and say so: shopping on Sunday = its Saturday (German shops close
  on Sundays, Chinese malls are busiest at weekends); hospital = centre on weekdays, 0.8 x centre at
  weekends; kerb = centre; residential = 0.92 - 0.75 x (office - its night level),
  i.e. full at night, emptiest while offices are full.
- Signals: total vehicles over all intersections and movements per (day, slot), divided by
  that day's total (so each day sums to 1).
Deterministic: same inputs, same output. Usage: python3 tools/derive_profiles.py [DATA_DIR]
"""
import csv
import datetime as dt
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = sys.argv[1] if len(sys.argv) > 1 else next(
    (d for d in (os.path.join(ROOT, '..', 'shared', 'data'),
               os.path.join(ROOT, '..', '..', 'shared', 'data')) if os.path.isdir(d)),
    os.path.join(ROOT, '..', 'shared', 'data'))
OUT = os.path.join(ROOT, 'src', 'demand_profiles.c')

CLASSES = {
    'shopping': ['Altmarkt-Galerie', 'Centrum-Galerie', 'GALERIA-Karstadt-Kaufhof',
                 'Wohrl-Florentinum'],
    'station': ['Wiener-Platz-Hauptbahnhof'],
    'centre': ['Altmarkt', 'An-der-Frauenkirche', 'Frauenkirche-Neumarkt', 'Haus-am-Zwinger',
               'Semperoper', 'Taschenbergpalais', 'Terrassenufer', 'Ferdinandplatz',
               'Schiessgasse', 'Pirnaischer-Platz', 'Reitbahnstrasse', 'Budapester-Strasse',
               'Sarrasanistrasse', 'Wiesentorstrasse', 'Theresienstrasse', 'Ostra-Ufer',
               'Parkhaus-Mitte', 'SP1-Strassburger-Platz', 'Kongresszentrum',
               'Strehlener-Strasse'],
    'office': ['World-Trade-Center', 'Cossebaude', 'Kaditz', 'Klotzsche', 'Pennrich',
               'Prohlis', 'Reick', 'Fidelio-F-Finke-Strasse'],
}
ORDER = ['shopping', 'station', 'centre', 'office', 'hospital', 'kerb', 'residential']
NS = 96


def fill(v):
    """Circular linear interpolation over None gaps, then a 5-slot moving average."""
    n = len(v)
    known = [i for i in range(n) if v[i] is not None]
    out = list(v)
    for i in range(n):
        if out[i] is not None:
            continue
        a = max((k for k in known if k < i), default=known[-1] - n)
        b = min((k for k in known if k > i), default=known[0] + n)
        va, vb = v[a % n], v[b % n]
        out[i] = va + (vb - va) * (i - a) / (b - a)
    return [sum(out[(i + k) % n] for k in range(-2, 3)) / 5 for i in range(n)]


def parking():
    d = os.path.join(DATA, 'parking', 'dresden')
    cap = {}
    for r in csv.DictReader(open(os.path.join(d, 'dresden_lots.csv'), encoding='utf-8')):
        if r['capacity']:
            cap[r['place_id']] = max(float(r['capacity']), float(r['max_free_observed'] or 0))
    week = 7 * NS
    series = {}                                   # place_id -> week of readings
    f = open(os.path.join(d, 'dresden_free_spaces_2023-05-08_to_2023-05-14.csv'),
             encoding='utf-8')
    for r in csv.DictReader(f):
        t = dt.datetime.fromisoformat(r['timestamp_utc']) + dt.timedelta(hours=2)
        k = ((t.weekday() + 1) % 7) * NS + (t.hour * 60 + t.minute) // 15   # 0 = Sunday 00:00
        for pid in cap:
            if r.get(pid):
                occ = min(1.0, max(0.0, 1 - float(r[pid]) / cap[pid]))
                series.setdefault(pid, [None] * week)[k] = occ
    prof = {}
    for c, names in CLASSES.items():
        lots = [fill(series['dresden-parken-' + n]) for n in names
                if 'dresden-parken-' + n in series]
        mean = [sum(x[k] for x in lots) / len(lots) for k in range(week)]
        prof[c] = [mean[w * NS:(w + 1) * NS] for w in range(7)]
    prof['shopping'][0] = list(prof['shopping'][6])
    cen, off = prof['centre'], prof['office']
    prof['hospital'] = [[x * (0.8 if w in (0, 6) else 1.0) for x in cen[w]] for w in range(7)]
    prof['kerb'] = [list(cen[w]) for w in range(7)]
    night = min(min(off[w]) for w in range(7))
    prof['residential'] = [[min(1.0, max(0.0, 0.92 - 0.75 * (x - night))) for x in off[w]]
                           for w in range(7)]
    return prof


def signals():
    path = os.path.join(DATA, 'signals', 'bentonville_ar_tmc_15min_2025-11-16_22.csv')
    tot = [[0.0] * NS for _ in range(7)]
    for r in csv.reader(open(path, encoding='utf-8')):
        if len(r) < 15 or not r[0][:1].isdigit():
            continue
        day = dt.datetime.strptime(r[0], '%m/%d/%Y')
        dow = (day.weekday() + 1) % 7
        hhmm = r[1].strip('="')
        slot = (int(hhmm[:2]) * 60 + int(hhmm[2:])) // 15
        tot[dow][slot] += sum(float(x) for x in r[3:15] if x not in ('', '*'))
    return [[x / sum(day) for x in day] for day in tot]


def table(name, rows, fmt):
    lines = ['const float %s[7][DEMAND_SLOTS] = {' % name]
    for w, row in enumerate(rows):
        lines.append('    { /* %s */' % ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][w])
        for i in range(0, NS, 8):
            lines.append('        ' + ', '.join(fmt % x for x in row[i:i + 8]) + ',')
        lines.append('    },')
    lines.append('};')
    return '\n'.join(lines)


def main():
    prof, sig = parking(), signals()
    out = ['/* demand_profiles.c -- GENERATED by tools/derive_profiles.py from the real',
           ' * recordings in ../shared/data (Dresden car parks, Bentonville turning counts);',
           ' * do not edit: change the script and run it again. How the tables are made: the',
           ' * script\'s docstring and docs/citysim.md. */',
           '#include "demand.h"', '']
    for c in ORDER:
        out.append('/* occupancy (share of spaces taken) of class %s */' % c)
        out.append('static ' + table('occ_%s' % c, prof[c], '%.3ff'))
        out.append('')
    out.append('const float (*const demand_occupancy[DEMAND_NCLASSES])[DEMAND_SLOTS] = {')
    out.append('    ' + ', '.join('occ_%s' % c for c in ORDER) + ',')
    out.append('};')
    out.append('')
    out.append('/* share of a day\'s detector counts in each slot (each day sums to 1) */')
    out.append(table('demand_signal_share', sig, '%.5ff'))
    open(OUT, 'w', encoding='utf-8').write('\n'.join(out) + '\n')
    print('wrote', OUT)


main()
