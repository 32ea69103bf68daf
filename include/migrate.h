/* migrate.h -- the one-time move to the partitioned key layout, run at
 * start before the modules restore (migrate.c, docs/scaling.md). While it
 * runs a->layout_pending holds every restore back (module.c); /v1/health
 * says "starting". */
#ifndef CITYD_MIGRATE_H
#define CITYD_MIGRATE_H

#include "module.h"

extern const struct api_module migrate_module;

#endif
