/* keys.c -- Redis key names with cluster hash tags (see keys.h). */
#include "keys.h"

#include <stdio.h>

static const char *tagged(char *buf, size_t n, const char *kind, const char *id,
                          const char *what)
{
    snprintf(buf, n, "cityd:{%s:%s}:%s", kind, id, what);
    return buf;
}

const char *keys_lot(char *buf, size_t n, const char *lot, const char *what)
{
    return tagged(buf, n, "lot", lot, what);
}

const char *keys_plate(char *buf, size_t n, const char *plate, const char *what)
{
    return tagged(buf, n, "plate", plate, what);
}

const char *keys_vehicle(char *buf, size_t n, const char *veh, const char *what)
{
    return tagged(buf, n, "veh", veh, what);
}

const char *keys_corridor(char *buf, size_t n, const char *cor, const char *what)
{
    return tagged(buf, n, "cor", cor, what);
}

const char *keys_intersection(char *buf, size_t n, const char *isec, const char *what)
{
    return tagged(buf, n, "int", isec, what);
}

const char *keys_kiosk(char *buf, size_t n, const char *kiosk, const char *what)
{
    return tagged(buf, n, "kiosk", kiosk, what);
}

const char *keys_city(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "cityd:{city}:%s", what);
    return buf;
}

const char *keys_seen(char *buf, size_t n, const char *tag_kind, const char *tag_id,
                      const char *write_id)
{
    snprintf(buf, n, "cityd:{%s:%s}:seen:%s", tag_kind, tag_id, write_id);
    return buf;
}

const char *keys_channel(char *buf, size_t n, const char *kind)
{
    snprintf(buf, n, "cityd:chan:%s", kind);
    return buf;
}
