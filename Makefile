# cityd -- build, test, run, install.
#
#   make            build bin/cityd and bin/citysim
#   make run        install missing packages, build, serve the Yantai demo city brought to
#                   life by citysim (DEMO=0: a bare server)
#   make test       install missing packages, build, run every test
#   make test SAN=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      benchmarks (figures beside baselines measured in the same run)
#   make soak       a Yantai-sized city driven by citysim at 20x for 15 min (tools/soak.py)
#   make fuzz       libFuzzer harnesses (clang), FUZZ_SECONDS each (tests/fuzz/README.md)
#   make chaos      only the chaos suite of make test (tests/integration/chaos.md)
#   make valgrind   unit tests, and integration suites with cityd, under valgrind
#                   (tests/valgrind/run.sh; VG_SUITES="parking web" to choose)
#   make install PREFIX=/usr/local

VERSION   := 0.1.0
PREFIX    ?= /usr/local
CC        ?= cc
SAN       ?= 0
DEMO      ?= 1

ifeq ($(SAN),1)
OBJ       := build/san
BIN       := build/san/bin
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       := -O1
else
OBJ       := build/obj
BIN       := bin
SANFLAGS  :=
OPT       := -O2
endif

PKGS      := libevent hiredis geos jansson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lglpk -lprotobuf-c -lm
TEST_CFLAGS = $(shell pkg-config --cflags cunit libcurl 2>/dev/null)
TEST_LIBS   = $(shell pkg-config --libs cunit libcurl 2>/dev/null)

# -Iinclude first: hiredis ships alloc.h, async.h, read.h, sds.h.
CPPFLAGS  := -Iinclude -Isim -Ibuild/gen -D_GNU_SOURCE -DCITYD_VERSION=\"$(VERSION)\"
CFLAGS    ?= $(OPT) -g
CFLAGS    += -std=c11 -pthread -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter $(SANFLAGS)
LDFLAGS   += -pthread $(SANFLAGS)

# Protocol buffers: proto/X.proto -> build/gen/X.pb-c.{c,h} (protoc-c),
# compiled into the library like any source file.
PROTO     := $(wildcard proto/*.proto)
PROTO_C   := $(PROTO:proto/%.proto=build/gen/%.pb-c.c)
PROTO_H   := $(PROTO_C:.c=.h)
LIB_SRC   := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(OBJ)/%.o) $(PROTO_C:%.c=$(OBJ)/%.o)
SIM_SRC   := $(wildcard sim/*.c)
SIM_OBJ   := $(SIM_SRC:%.c=$(OBJ)/%.o)
SUP_SRC   := $(wildcard tests/support/*.c)
SUP_OBJ   := $(SUP_SRC:%.c=$(OBJ)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(OBJ)/%.o) $(OBJ)/tests/unit_runner.o
IT_SRC    := $(wildcard tests/integration/it_*.c)
IT_OBJ    := $(IT_SRC:%.c=$(OBJ)/%.o) $(OBJ)/tests/it_runner.o

.PHONY: all run test check-deps deps bench soak clean install unit integration fuzz fuzz-build chaos valgrind
all: $(BIN)/cityd $(if $(SIM_SRC),$(BIN)/citysim)

deps:
	@tools/deps.sh

$(OBJ)/libcityd.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BIN)/cityd: $(OBJ)/src/main.o $(OBJ)/libcityd.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BIN)/citysim: $(SIM_OBJ) $(OBJ)/libcityd.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(shell pkg-config --libs libcurl 2>/dev/null)

build/gen/%.pb-c.c build/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=proto --c_out=build/gen $<
.SECONDARY: $(PROTO_C) $(PROTO_H)

$(OBJ)/%.o: %.c $(wildcard include/*.h) build/gen/unit_suites.h build/gen/it_suites.h $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS) -Itests/support $(CFLAGS) -c -o $@ $<

$(OBJ)/tests/unit_runner.o: tests/runner.c build/gen/unit_suites.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(TEST_CFLAGS) '-DSUITES_H="unit_suites.h"' '-DKIND="unit"' $(CFLAGS) -c -o $@ $<
$(OBJ)/tests/it_runner.o: tests/runner.c build/gen/it_suites.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(TEST_CFLAGS) '-DSUITES_H="it_suites.h"' '-DKIND="integration"' $(CFLAGS) -c -o $@ $<

# Test suites register themselves by file name: tests/unit/test_foo.c
# defines `int suite_foo(void)`; the runner includes the generated list.
build/gen/unit_suites.h: $(UNIT_SRC) Makefile
	@mkdir -p $(@D)
	@for f in $(UNIT_SRC); do b=$$(basename $$f .c); echo "SUITE($${b#test_})"; done > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
build/gen/it_suites.h: $(IT_SRC) Makefile
	@mkdir -p $(@D)
	@for f in $(IT_SRC); do b=$$(basename $$f .c); echo "SUITE($${b#it_})"; done > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(BIN)/test_unit: $(UNIT_OBJ) $(SUP_OBJ) $(OBJ)/libcityd.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

$(BIN)/test_integration: $(IT_OBJ) $(SUP_OBJ) $(OBJ)/libcityd.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS)

test: deps
	@$(MAKE) --no-print-directory all $(BIN)/test_unit $(BIN)/test_integration
	@BIN=$(BIN) tests/run.sh

# the chaos suite alone (it is part of `make test`: tests/integration/chaos.md)
chaos: deps
	@$(MAKE) --no-print-directory all $(BIN)/test_integration
	@CITYD_BIN=$(BIN)/cityd $(BIN)/test_integration chaos

# not part of make test: ~15 min on 2 shared cores (tests/valgrind/run.sh)
valgrind:
	@[ "$(SAN)" != 1 ] || { echo "make valgrind: not with SAN=1 (ASan and valgrind do not mix)" >&2; exit 1; }
	@tools/deps.sh valgrind
	@$(MAKE) --no-print-directory all $(BIN)/test_unit $(BIN)/test_integration
	@BIN=$(BIN) tests/valgrind/run.sh

# DEMO=0: a bare server; else citysim brings the demo city to life (tools/run_demo.sh)
run: deps
	@$(MAKE) --no-print-directory all
	@BIN=$(BIN) DEMO=$(DEMO) tools/run_demo.sh

# the city-scale soak (not part of make test; >= 10 min on 2 cores): tools/soak.py,
# report in build/soak/report.md and soak.png. SOAK_ARGS="--minutes 15 --speed 20"
soak: deps
	@$(MAKE) --no-print-directory all
	@python3 tools/soak.py $(SOAK_ARGS)

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh

# ---- fuzzing: libFuzzer harnesses tests/fuzz/fuzz_<name>.c ----
# The library is built again with clang and the fuzzer's coverage
# instrumentation in its own tree (build/fuzz), so it never mixes with
# build/obj or build/san. `make fuzz FUZZ_SECONDS=N [FUZZ_TARGETS="csv map"]`
# runs each harness for N seconds on its committed seed corpus
# (tests/fuzz/corpus/<name>) and fails on any crash, leak, UB or hang;
# crash inputs land in build/fuzz/crashes/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ         := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
                -Wno-unused-parameter $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ)/%.o) $(PROTO_C:%.c=$(FUZZ)/%.o)

$(FUZZ)/%.o: %.c $(wildcard include/*.h) $(PROTO_H)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ)/tests/fuzz/%.o: tests/fuzz/%.c $(wildcard include/*.h tests/fuzz/*.h) $(PROTO_H)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) -Itests/fuzz $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ)/libcityd.a: $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(FUZZ)/bin/fuzz_%: $(FUZZ)/tests/fuzz/fuzz_%.o $(FUZZ)/tests/fuzz/util.o $(FUZZ)/libcityd.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

.SECONDARY: $(FUZZ_SRC:%.c=$(FUZZ)/%.o) $(FUZZ)/tests/fuzz/util.o

fuzz-build:
	@tools/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ)/bin/fuzz_%)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz.sh $(FUZZ_TARGETS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/etc/cityd $(DESTDIR)$(PREFIX)/share/cityd/maps $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 bin/cityd bin/citysim $(DESTDIR)$(PREFIX)/bin/
	install -m 644 config/cityd.conf $(DESTDIR)$(PREFIX)/etc/cityd/cityd.conf
	install -m 600 config/keys.conf $(DESTDIR)$(PREFIX)/etc/cityd/keys.conf
	cp -R maps/. $(DESTDIR)$(PREFIX)/share/cityd/maps/
	install -d $(DESTDIR)$(PREFIX)/share/cityd/web
	install -m 644 web/* $(DESTDIR)$(PREFIX)/share/cityd/web/
	sed -e 's|@PREFIX@|$(PREFIX)|g' config/cityd.service.in > $(DESTDIR)$(PREFIX)/lib/systemd/system/cityd.service

clean:
	rm -rf build bin
