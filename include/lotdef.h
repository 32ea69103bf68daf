/* lotdef.h -- what a parking lot definition may hold, one rule for both
 * ways a lot arrives: the properties of a lot in parking.geojson (map.c)
 * and the body of PUT /v1/parking/lots/{id} (api_parking.c).
 *
 * A definition's strings end up in replies, feeds, Redis keys and log
 * lines, and its numbers in computations, so they are bounded the same
 * way whoever wrote them (text.h for strings). The fields, as api.md and
 * formats.md name them:
 *   name             required; text.h rule, at most TEXT_NAME_SIZE - 1 bytes
 *   type             "OffStreetParking" (default) or "OnStreetParking"
 *   totalSpotNumber  required; integer 1..LOTDEF_SPOTS_MAX (a lot the
 *                    operator shuts is closed by its status, not by 0 spots)
 *   category, levels arrays of at most LOTDEF_LIST_MAX distinct ids
 *   tariff           api.md "Tariff" (tariff_from_json)
 *   priceRatePerHour number 0..TARIFF_RATE_MAX
 *   priceCurrency    ISO 4217 code, default "CNY"
 *   address          text.h rule, like name
 *   name_en          text.h rule, like name (the name in English)
 *   openingHours     text.h rule, like name (OSM opening_hours syntax, as
 *                    FIWARE's OffStreetParking; not interpreted)
 * Ids (the lot's, its levels, categories and bays) are ids by text.h:
 * non-empty, no control characters, at most LOTDEF_ID_MAX bytes.
 * Where the lot stands (geometry or GeoJSON location), its bays and its
 * status are read by the caller: they differ between map and PUT. */
#ifndef CITYD_LOTDEF_H
#define CITYD_LOTDEF_H

#include <jansson.h>
#include <stddef.h>

#include "map.h"

#define LOTDEF_ID_MAX 127             /* bytes; keeps "lot\x1fbay" keys bounded */
#define LOTDEF_SPOTS_MAX 10000000     /* totalSpotNumber */
#define LOTDEF_LIST_MAX 64            /* levels, categories of a lot */

/* Called once per problem with "<field>: <why>" (printable: a quoted
 * value never carries a control character). */
typedef void lotdef_report_fn(void *ctx, const char *msg);

/* Read the definition of lot `id` from the JSON object o into *l (every
 * field above; loc and nbays are left 0). Every problem is reported, not
 * just the first. Returns the number of problems: 0 and *l owns its
 * strings (free with lotdef_clear), or > 0 and *l is cleared. */
size_t lotdef_parse(const char *id, const json_t *o, struct map_lot *l,
                    lotdef_report_fn *report, void *ctx);

/* Free the strings of a definition and zero it. */
void lotdef_clear(struct map_lot *l);

/* The id rule for s as `field` (a bay id, a bay's level): 0, or -1 with
 * "<field>: <why>" in err. */
int lotdef_check_id(const char *field, const char *s, char *err, size_t errlen);

#endif
