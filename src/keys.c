/* keys.c -- Redis key names with cluster hash tags (see keys.h). */
#include "keys.h"

#include <stdio.h>
#include <string.h>

static const char *tagged(char *buf, size_t n, const char *kind, const char *id,
                          const char *what)
{
    snprintf(buf, n, "cityd:{%s:%s}:%s", kind, id, what);
    return buf;
}

/* An object that lives in a partition: cityd:{p:NN}:<kind>:<id>:<what>. */
static const char *parted(char *buf, size_t n, const char *kind, const char *id,
                          const char *what)
{
    snprintf(buf, n, "cityd:{p:%02u}:%s:%s:%s", keys_part(id), kind, id, what);
    return buf;
}

const char *keys_lot(char *buf, size_t n, const char *lot, const char *what)
{
    return parted(buf, n, "lot", lot, what);
}

const char *keys_plate(char *buf, size_t n, const char *plate, const char *what)
{
    return parted(buf, n, "plate", plate, what);
}

const char *keys_vehicle(char *buf, size_t n, const char *veh, const char *what)
{
    return parted(buf, n, "veh", veh, what);
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

const char *keys_part_key(char *buf, size_t n, unsigned part, const char *what)
{
    snprintf(buf, n, "cityd:{p:%02u}:%s", part % KEYS_PARTS, what);
    return buf;
}

const char *keys_city(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "cityd:{city}:%s", what);
    return buf;
}

const char *keys_seen(char *buf, size_t n, const char *tag_kind, const char *tag_id,
                      const char *write_id)
{
    if (strcmp(tag_kind, "lot") == 0 || strcmp(tag_kind, "veh") == 0 ||
        strcmp(tag_kind, "plate") == 0)
        snprintf(buf, n, "cityd:{p:%02u}:%s:%s:seen:%s", keys_part(tag_id), tag_kind, tag_id,
                 write_id);
    else
        snprintf(buf, n, "cityd:{%s:%s}:seen:%s", tag_kind, tag_id, write_id);
    return buf;
}

const char *keys_channel(char *buf, size_t n, const char *kind)
{
    snprintf(buf, n, "cityd:chan:%s", kind);
    return buf;
}

/* CRC16/XMODEM (poly 0x1021, init 0), the checksum Redis Cluster uses. */
static unsigned crc16(const char *s, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)s[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
    }
    return crc;
}

unsigned keys_slot(const char *key, size_t len)
{
    size_t open = 0, close;
    while (open < len && key[open] != '{')
        open++;
    if (open < len) {
        close = open + 1;
        while (close < len && key[close] != '}')
            close++;
        if (close < len && close > open + 1)
            return crc16(key + open + 1, close - open - 1) % KEYS_SLOTS;
    }
    return crc16(key, len) % KEYS_SLOTS;
}

unsigned keys_part(const char *id)
{
    return crc16(id, strlen(id)) % KEYS_PARTS;
}
