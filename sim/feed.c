/* feed.c -- placeholder, replaced below */
#include "simcli.h"
int simcli_feed(int argc, char **argv) { return 2; }
