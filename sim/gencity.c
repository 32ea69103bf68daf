/* gencity.c -- `citysim gen-city` (api.md §5): a synthetic city map folder
 * of a given size, for scale tests and the soak (formats.md "Map folder").
 *
 * Layout: a street grid (blocks of 400 m) whose east-west arterials are
 * the signal corridors, an intersection every 400 m along each (rows of
 * up to 25, so Yantai's 1,500 signals make 60 corridors of 10 km); lots
 * placed in blocks, denser towards the centre, their kind by where they
 * are (shops and offices in the middle, homes outside, kerb spaces along
 * the arterials); garages with bays (one aisle a level, a lift joining
 * the levels and a kiosk beside it); bus routes along an arterial then up
 * or down a cross street, stops every 500 m each way, a daily timetable
 * from 06:00 to 22:00 whose headway keeps the requested number of buses
 * on the road. All geometry WGS84 around Yantai; the same seed gives the
 * same bytes. The result passes `cityd --check`. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "demand.h"
#include "geo.h"
#include "simcli.h"

#define BLOCK_M 400.0
#define PER_ROW 25
#define BAYS_PER_SIDE 60
#define BAY_W 2.5

struct gen {
    struct geo_proj proj;
    struct demand_rng rng;
    double W, H;                   /* extent, metres, centred on 0,0 */
    int rows, per_row;
    char dir[1024];
};

static FILE *open_out(const struct gen *g, const char *name)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", g->dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "citysim: gen-city: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static void pt(FILE *f, const struct gen *g, double x, double y)
{
    struct geo_pt p = geo_unproject(&g->proj, (struct geo_xy){ x, y });
    fprintf(f, "[%.7f,%.7f]", p.lon, p.lat);
}

static void point_feature(FILE *f, const struct gen *g, bool *first, double x, double y)
{
    fprintf(f, "%s{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":",
            *first ? "" : ",\n");
    pt(f, g, x, y);
    fprintf(f, "},\"properties\":{");
    *first = false;
}

/* y of corridor row r; x of intersection k of a row. */
static double row_y(const struct gen *g, int r)
{
    return (r - (g->rows - 1) / 2.0) * BLOCK_M;
}

static double col_x(const struct gen *g, int k)
{
    return (k - (g->per_row - 1) / 2.0) * BLOCK_M;
}

static int corridors(struct gen *g, int signals)
{
    FILE *f = open_out(g, "corridors.geojson");
    if (f == NULL)
        return -1;
    fprintf(f, "{\"type\":\"FeatureCollection\",\"features\":[\n");
    bool first = true;
    int left = signals;
    for (int r = 0; r < g->rows; r++) {
        int n = r + 1 == g->rows ? left : (left - g->per_row == 1 ? g->per_row - 1 : g->per_row);
        left -= n;
        double y = row_y(g, r);
        fprintf(f, "%s{\"type\":\"Feature\",\"geometry\":{\"type\":\"LineString\","
                "\"coordinates\":[", first ? "" : ",\n");
        first = false;
        pt(f, g, col_x(g, 0) - BLOCK_M / 2, y);
        fprintf(f, ",");
        pt(f, g, col_x(g, n - 1) + BLOCK_M / 2, y);
        fprintf(f, "]},\"properties\":{\"kind\":\"corridor\",\"id\":\"c%03d\",\"name\":\"Arterial "
                "%d\",\"speed_kmh\":50,\"intersections\":[", r, r + 1);
        for (int k = 0; k < n; k++)
            fprintf(f, "%s\"g%03d-%02d\"", k ? "," : "", r, k);
        fprintf(f, "]}}");
        for (int k = 0; k < n; k++) {
            bool left_phase = (r + k) % 2 == 0;
            int ew = 700 + (int)(demand_rng_next(&g->rng) % 500);
            int ns = 350 + (int)(demand_rng_next(&g->rng) % 350);
            int nph = left_phase ? 3 : 2;
            point_feature(f, g, &first, col_x(g, k), y);
            fprintf(f, "\"kind\":\"intersection\",\"id\":\"g%03d-%02d\",\"name\":\"Arterial %d / "
                    "Street %d\",\"phases\":[{\"movements\":[\"EBT\",\"EBR\",\"WBT\",\"WBR\"],"
                    "\"saturation_flow\":3600,\"min_green_s\":15,\"flow\":%d},", r, k, r + 1, k + 1,
                    ew);
            if (left_phase)
                fprintf(f, "{\"movements\":[\"EBL\",\"WBL\"],\"saturation_flow\":1650,"
                        "\"min_green_s\":8,\"flow\":%d},", 120 + (int)(demand_rng_next(&g->rng) % 120));
            fprintf(f, "{\"movements\":[\"NBT\",\"NBR\",\"NBL\",\"SBT\",\"SBR\",\"SBL\"],"
                    "\"saturation_flow\":3600,\"min_green_s\":15,\"flow\":%d}],\"lost_time_s\":%d,"
                    "\"cycle_min_s\":%d,\"cycle_max_s\":150,\"pedestrian_crossing_m\":24}}", ns,
                    4 * nph, nph == 2 ? 40 : 50);
        }
    }
    fprintf(f, "\n]}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* Kind of a lot at distance share d (0 centre .. 1 edge). */
static const char *lot_kind(struct demand_rng *r, double d, bool garage)
{
    double u = demand_rng_unit(r);
    if (garage)
        return u < 0.4 ? "shoppingCentre" : u < 0.75 ? "office" : u < 0.9 ? "hospital"
                                                                      : "trainStation";
    if (u < 0.15)
        return "onStreet";
    if (d < 0.3)
        return u < 0.4 ? "shoppingCentre" : u < 0.75 ? "office" : "centre";
    return u < 0.65 ? "residential" : u < 0.8 ? "office" : u < 0.9 ? "shoppingCentre" : "centre";
}

static void lot_props(FILE *f, int i, const char *kind, int total, double rate)
{
    bool kerb = !strcmp(kind, "onStreet");
    fprintf(f, "\"id\":\"gen-%05d\",\"type\":\"%s\",\"name\":\"Lot %d\",\"totalSpotNumber\":%d,"
            "\"category\":[\"%s\"],\"priceRatePerHour\":%.1f,\"tariff\":{\"free_minutes\":15,"
            "\"rate_per_hour\":%.1f,\"unit_minutes\":30,\"daily_cap\":40.0}",
            i, kerb ? "OnStreetParking" : "OffStreetParking", i, total, kind, rate, rate);
}

/* A garage: levels of one aisle with a row of bays each side, a lift at
 * the aisle's west end joining every level, a kiosk beside it. */
static void garage(FILE *f, struct gen *g, bool *first, int i, double x, double y, int bays,
                   const char *kind)
{
    int per_level = 2 * BAYS_PER_SIDE, levels = (bays + per_level - 1) / per_level;
    point_feature(f, g, first, x, y);
    lot_props(f, i, kind, bays, 3.0 + (double)(i % 4));
    fprintf(f, ",\"levels\":[");
    for (int l = 0; l < levels; l++)
        fprintf(f, "%s\"B%d\"", l ? "," : "", l + 1);
    fprintf(f, "]}}");
    double len = BAYS_PER_SIDE * BAY_W + 10;
    for (int l = 0; l < levels; l++) {
        fprintf(f, ",\n{\"type\":\"Feature\",\"geometry\":{\"type\":\"LineString\","
                "\"coordinates\":[");
        pt(f, g, x, y);
        fprintf(f, ",");
        pt(f, g, x + len, y);
        fprintf(f, "]},\"properties\":{\"kind\":\"aisle\",\"id\":\"gen-%05d-B%d-a1\",\"lot\":"
                "\"gen-%05d\",\"level\":\"B%d\"}}", i, l + 1, i, l + 1);
        point_feature(f, g, first, x + 1, y + 2);
        fprintf(f, "\"kind\":\"kiosk\",\"id\":\"gen-%05d-K-B%d\",\"lot\":\"gen-%05d\",\"level\":"
                "\"B%d\"}}", i, l + 1, i, l + 1);
        int on_level = bays - l * per_level < per_level ? bays - l * per_level : per_level;
        for (int b = 0; b < on_level; b++) {
            double bx = x + 8 + (b / 2) * BAY_W, by = y + (b % 2 ? -3.5 : 3.5);
            point_feature(f, g, first, bx, by);
            fprintf(f, "\"kind\":\"bay\",\"id\":\"B%d-%03d\",\"lot\":\"gen-%05d\",\"level\":"
                    "\"B%d\"}}", l + 1, b + 1, i, l + 1);
        }
    }
    if (levels >= 2) {
        point_feature(f, g, first, x, y);
        fprintf(f, "\"kind\":\"connector\",\"id\":\"gen-%05d-lift\",\"lot\":\"gen-%05d\","
                "\"type\":\"lift\",\"levels\":[", i, i);
        for (int l = 0; l < levels; l++)
            fprintf(f, "%s\"B%d\"", l ? "," : "", l + 1);
        fprintf(f, "]}}");
    }
}

static int parking(struct gen *g, int lots, int bays, int spaces)
{
    FILE *f = open_out(g, "parking.geojson");
    if (f == NULL)
        return -1;
    int garages = bays > 0 ? (bays + 299) / 300 : 0;
    if (garages > lots)
        garages = lots;
    int plain = lots - garages, rest = spaces - bays > plain ? spaces - bays : plain;
    fprintf(f, "{\"type\":\"FeatureCollection\",\"features\":[\n");
    bool first = true;
    int left_bays = bays, left_spaces = rest;
    for (int i = 0; i < lots; i++) {
        /* denser towards the centre: the square of a uniform radius share */
        double u = demand_rng_unit(&g->rng), a = demand_rng_range(&g->rng, 0, 2 * M_PI);
        double d = sqrt(u) * u;
        double x = cos(a) * d * g->W / 2, y = sin(a) * d * g->H / 2;
        /* in a block, off the street */
        x = floor(x / BLOCK_M) * BLOCK_M + 60 + demand_rng_range(&g->rng, 0, 200);
        y = floor(y / BLOCK_M) * BLOCK_M + 60 + demand_rng_range(&g->rng, 0, 200);
        if (i < garages) {
            int n = left_bays / (garages - i);
            left_bays -= n;
            garage(f, g, &first, i, x, y, n, lot_kind(&g->rng, d, true));
            continue;
        }
        const char *kind = lot_kind(&g->rng, d, false);
        int k = lots - i;                      /* plain lots left, this one included */
        int mean = left_spaces / k;
        bool kerb = !strcmp(kind, "onStreet");
        int total = kerb ? 10 + (int)(demand_rng_next(&g->rng) % 31)
                         : (int)fmax(10, mean * demand_rng_range(&g->rng, 0.5, 1.5));
        if (k == 1 || total > left_spaces - (k - 1) * 10)
            total = k == 1 ? left_spaces : (int)fmax(10, left_spaces - (k - 1) * 10);
        if (kerb)                              /* along the arterial nearest */
            y = round(y / BLOCK_M) * BLOCK_M + 12;
        left_spaces -= total;
        point_feature(f, g, &first, x, y);
        lot_props(f, i, kind, total, kerb ? 6.0 : 2.0 + (double)(i % 5));
        fprintf(f, "}}");
    }
    fprintf(f, "\n]}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- GTFS ---- */

static void hms(FILE *f, double s)
{
    long t = lround(s);
    fprintf(f, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static int gtfs(struct gen *g, int buses)
{
    char sub[900];
    snprintf(sub, sizeof sub, "%.800s/gtfs", g->dir);
    if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "citysim: gen-city: cannot create %s: %s\n", sub, strerror(errno));
        return -1;
    }
    struct gen gg = *g;
    snprintf(gg.dir, sizeof gg.dir, "%s", sub);
    FILE *ag = open_out(&gg, "agency.txt"), *ca = open_out(&gg, "calendar.txt"),
         *ro = open_out(&gg, "routes.txt"), *st = open_out(&gg, "stops.txt"),
         *sh = open_out(&gg, "shapes.txt"), *tr = open_out(&gg, "trips.txt"),
         *stt = open_out(&gg, "stop_times.txt");
    int rc = 0;
    if (!ag || !ca || !ro || !st || !sh || !tr || !stt) {
        rc = -1;
        goto out;
    }
    fprintf(ag, "agency_id,agency_name,agency_url,agency_timezone\nGEN,Synthetic Transit,"
                "https://example.org/,Asia/Shanghai\n");
    fprintf(ca, "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                "start_date,end_date\nDAILY,1,1,1,1,1,1,1,20260101,20991231\n");
    fprintf(ro, "route_id,agency_id,route_short_name,route_long_name,route_type\n");
    fprintf(st, "stop_id,stop_name,stop_lat,stop_lon\n");
    fprintf(sh, "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n");
    fprintf(tr, "route_id,service_id,trip_id,direction_id,shape_id\n");
    fprintf(stt, "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n");
    int nroutes = buses >= 10 ? buses / 10 : 1;
    for (int r = 0; r < nroutes; r++) {
        /* along arterial row, then up or down a cross street */
        int row = (int)(demand_rng_next(&g->rng) % (uint64_t)g->rows);
        int k0 = (int)(demand_rng_next(&g->rng) % (uint64_t)(g->per_row / 2 + 1));
        int k1 = k0 + g->per_row / 3 + (int)(demand_rng_next(&g->rng) % (uint64_t)(g->per_row / 3 + 1));
        if (k1 >= g->per_row)
            k1 = g->per_row - 1;
        double x0 = col_x(g, k0), x1 = col_x(g, k1) + BLOCK_M / 2, y0 = row_y(g, row);
        double up = (row < g->rows / 2 ? 1 : -1) * BLOCK_M * (3 + (double)(demand_rng_next(&g->rng) % 8));
        double len = (x1 - x0) + fabs(up);
        fprintf(ro, "R%d,GEN,%d,Route %d,3\n", r + 1, r + 1, r + 1);
        int nstops = (int)(len / 500) + 1;
        for (int dir = 0; dir < 2; dir++) {
            /* the path: east along the arterial, then up or down the
             * cross street; a point every 100 m */
            for (int k = 0; k <= (int)(len / 100); k++) {
                double s = dir ? len - k * 100.0 : k * 100.0;
                double x = s <= x1 - x0 ? x0 + s : x1, y = s <= x1 - x0 ? y0 : y0 + (s - (x1 - x0)) * (up > 0 ? 1 : -1);
                struct geo_pt p = geo_unproject(&g->proj, (struct geo_xy){ x, y });
                fprintf(sh, "R%d-%d,%.7f,%.7f,%d\n", r + 1, dir, p.lat, p.lon, k + 1);
            }
            for (int k = 0; k < nstops; k++) {
                double s = dir ? len - k * len / (nstops - 1) : k * len / (nstops - 1);
                double x = s <= x1 - x0 ? x0 + s : x1, y = s <= x1 - x0 ? y0 : y0 + (s - (x1 - x0)) * (up > 0 ? 1 : -1);
                struct geo_pt p = geo_unproject(&g->proj, (struct geo_xy){ x, y });
                fprintf(st, "S%d-%d-%02d,Route %d stop %d,%.7f,%.7f\n", r + 1, dir, k + 1, r + 1,
                        k + 1, p.lat, p.lon);
            }
            /* 20 km/h with 20 s dwell; headway so that ~10 buses serve the
             * route: a round trip plus two 10-minute turns, shared by ten */
            double leg = len / (20 / 3.6) + 20.0 * nstops;
            double headway = fmax(300, round((2 * leg + 1200) / 10 / 60) * 60);
            int n = 0;
            for (double t0 = 6 * 3600 + dir * headway / 2; t0 <= 22 * 3600; t0 += headway, n++) {
                fprintf(tr, "R%d,DAILY,R%d-%d-%03d,%d,R%d-%d\n", r + 1, r + 1, dir, n, dir, r + 1,
                        dir);
                for (int k = 0; k < nstops; k++) {
                    double arr = t0 + k * leg / (nstops - 1) - (k ? 20 : 0), dep = arr + (k ? 20 : 0);
                    if (k == 0)
                        arr = dep = t0;
                    fprintf(stt, "R%d-%d-%03d,", r + 1, dir, n);
                    hms(stt, arr);
                    fputc(',', stt);
                    hms(stt, dep);
                    fprintf(stt, ",S%d-%d-%02d,%d\n", r + 1, dir, k + 1, k + 1);
                }
            }
        }
    }
out:
    FILE *all[] = { ag, ca, ro, st, sh, tr, stt };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i] && fclose(all[i]) != 0)
            rc = -1;
    return rc;
}

int simcli_gencity(int argc, char **argv)
{
    double lots = 3000, bays = 60000, signals = 1500, buses = 2500, spaces = NAN;
    unsigned long long seed = 1;
    const char *out = NULL;
    struct simopt opts[] = {
        { "--lots", OPT_DOUBLE, &lots, false, false },
        { "--bays", OPT_DOUBLE, &bays, false, false },
        { "--signals", OPT_DOUBLE, &signals, false, false },
        { "--buses", OPT_DOUBLE, &buses, false, false },
        { "--spaces", OPT_DOUBLE, &spaces, false, false },
        { "--seed", OPT_SEED, &seed, false, false },
        { "--out", OPT_STRING, &out, true, false },
        { NULL, 0, NULL, false, false },
    };
    if (simopt_parse(opts, argc, argv) != 0)
        return 2;
    if (isnan(spaces))
        spaces = 100 * lots;
    if (!(lots >= 1 && lots <= 100000) || !(bays >= 0 && bays <= spaces && bays <= 2e6) ||
        !(signals >= 2 && signals <= 20000) || !(buses >= 1 && buses <= 50000) ||
        !(spaces >= 10 * lots && spaces <= 1e7)) {
        fprintf(stderr, "citysim: gen-city: sizes out of range (lots 1-100000, signals 2-20000, "
                        "buses 1-50000, spaces >= 10 per lot, bays <= spaces)\n");
        return 2;
    }
    struct gen g;
    memset(&g, 0, sizeof g);
    snprintf(g.dir, sizeof g.dir, "%s", out);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "citysim: gen-city: cannot create %s: %s\n", out, strerror(errno));
        return 2;
    }
    geo_proj_init(&g.proj, 121.39, 37.50);
    demand_rng_seed(&g.rng, seed, 7);
    g.per_row = signals < PER_ROW ? (int)signals : PER_ROW;
    g.rows = (int)ceil(signals / g.per_row);
    g.W = (g.per_row + 1) * BLOCK_M;
    g.H = (g.rows + 1) * BLOCK_M;
    if (g.W < 4000)
        g.W = 4000;
    if (g.H < 4000)
        g.H = 4000;
    if (corridors(&g, (int)signals) != 0 || parking(&g, (int)lots, (int)bays, (int)spaces) != 0 ||
        gtfs(&g, (int)buses) != 0)
        return 3;
    fprintf(stderr, "citysim: gen-city: %s: %d lots (%d bays in garages, %d spaces), %d "
                    "signals on %d corridors, %d routes for %d buses\n", out, (int)lots, (int)bays,
            (int)spaces, (int)signals, g.rows, buses >= 10 ? (int)buses / 10 : 1, (int)buses);
    return 0;
}
