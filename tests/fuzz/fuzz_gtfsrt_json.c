/* fuzz_gtfsrt_json.c -- libFuzzer harness for the GTFS-realtime decoder,
 * JSON mapping (gtfsrt_decode_json), as POST /v1/transit/vehicle-positions
 * takes it with Content-Type application/json.
 * Every decoded feed must pass gtfsrt_check_feed (gtfsrt_check.h). */
#include <stdlib.h>

#include "gtfsrt_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gtfsrt_feed f;
    char err[256] = "";
    if (gtfsrt_decode_json_any(data, size, &f, err, sizeof err) == 0)
        gtfsrt_check_feed(&f);
    else if (f.n != 0 || f.v != NULL || err[0] == '\0')
        abort();                  /* a failed decode leaves nothing and says why */
    gtfsrt_feed_clear(&f);
    return 0;
}
