/* retention.h -- keeping a time, not a count, of the streams that record
 * what happened (docs/scaling.md "Retention").
 *
 * A bus's track and a lot's observation history are appended to on every
 * write and read by no request: what bounds them is how much of the past
 * they keep. Their entry ids carry the time of what they record (the
 * report's, the observation's: so a replayed day is kept as a day, not as
 * the minutes of wall time it took), and each append trims what is older
 * than the retention before the entry it adds. */
#ifndef CITYD_RETENTION_H
#define CITYD_RETENTION_H

/* Lua, defined at the top of a script: xadd_at(key, ms, keep_ms, field,
 * value, ...) appends an entry with id <ms>-* and drops the entries older
 * than ms - keep_ms (MINID ~: whole stream nodes at a time, so up to a
 * node more is kept). An entry not newer than the stream's last (a time
 * going back, or ids written by another version) gets Redis's next id
 * instead, so an append never fails; a time beyond what an id holds
 * exactly (a replayed feed may send ts 1e300) is taken as 2^53 - 1 ms. */
#define RETENTION_LUA_XADD_AT                                                                 \
    "local function xadd_at(key, ms, keep_ms, ...)\n"                                         \
    "  ms = math.min(math.max(ms, 0), 9007199254740991)\n"                                    \
    "  local min = string.format('%.0f', math.max(0, ms - keep_ms))\n"                        \
    "  local r = redis.pcall('XADD', key, 'MINID', '~', min,"                                 \
    " string.format('%.0f', ms) .. '-*', ...)\n"                                              \
    "  if type(r) == 'table' and r.err then\n"                                                \
    "    redis.call('XADD', key, 'MINID', '~', min, '*', ...)\n"                              \
    "  end\n"                                                                                 \
    "end\n"

#endif
