# simlog: build, install, test, demo and benchmark.
#
#   make                      build libsimlog and the tools
#   make check                unit tests and bats suites (real redis-server)
#   make check SANITIZE=address,undefined
#   make check VALGRIND=1     run every tool under valgrind
#   make check TESTS="drain push"   only tests/drain.bats and tests/push.bats
#   make check JOBS=1         one bats file at a time (default 3)
#   make demo                 a sample simulation through push and drain
#   make bench                speed and memory beside their peers
#   make examples             the C API's example programs (examples/)
#   make python               the Python module in $(O)/python (also by make)
#   make deb                  Debian packages (debian/) in build/deb
#   make install PREFIX=/usr/local DESTDIR=
#                             (and systemd units in PREFIX/lib/systemd/system)

VERSION    := 0.1.0
SOVERSION  := 0

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

CC         ?= cc
PKG_CONFIG ?= pkg-config
INSTALL    ?= install
DEPS       := hiredis sqlite3 libpq jansson liblz4 zlib libssl libcrypto

CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wshadow \
              -Wpointer-arith -Wformat=2
ifneq ($(WERROR),)
WARN       += -Werror
endif
DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null)
SCHEMADIR  ?= $(DATADIR)/simlog/schemas
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -Ilib $(DEP_CFLAGS) \
              -DSIMLOG_SCHEMA_DIR='"$(SCHEMADIR)"' $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(LDFLAGS)
LIBS       := $(DEP_LIBS) -lm -lpthread

# Sanitizer builds live in their own tree so objects never mix.
ifneq ($(SANITIZE),)
O          := build/san
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
else
O          := build/std
endif

TOOLS      := simlog-push simlog-drain simlog-ping simlog-pool-stats simlog-state
LIB_SRC    := $(wildcard lib/*.c lib/*/*.c)
PUBLIC_HDR := $(wildcard lib/simlog*.h)
LIB_OBJ    := $(LIB_SRC:lib/%.c=$(O)/lib/%.o)
CMD_COMMON := $(O)/cmd/common.o
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
# Test doubles and helpers (tests/unit/*.c that are not test_*.c or a
# fuzzer): linked into unit tests only, never into the library.
UNIT_LIB_SRC := $(filter-out tests/unit/test_%.c tests/unit/fuzz_%.c, \
              $(wildcard tests/unit/*.c))
UNIT_LIB   := $(O)/tests/libunit.a
BINS       := $(TOOLS:%=$(O)/bin/%)
STATIC_LIB := $(O)/libsimlog.a
SHARED_LIB := $(O)/libsimlog.so.$(VERSION)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES   := $(EXAMPLE_SRC:examples/%.c=$(O)/examples/%)
# Examples are built as a user's program would be: strict C11, the public
# headers only, no _GNU_SOURCE.
EX_CFLAGS  := -std=c11 $(WARN) -Ilib $(CFLAGS)
ifneq ($(SANITIZE),)
EX_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
MAN1       := $(wildcard man/*.1)
MAN3       := $(wildcard man/*.3)
MAN5       := $(wildcard man/*.5)
MAN7       := $(wildcard man/*.7)
# One page per function of libsimlog(3)'s NAME section, each pointing there.
MAN3_LINKS := $(shell sed -n '/^\.SH NAME/,/\\-/p' man/libsimlog.3 | \
              sed '1d; s/\\-.*//' | tr ', ' '\n\n' | grep '^simlog_')
# The loader searches its own directories; a library installed elsewhere
# is found by programs built with pkg-config through a run path.
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null)
PC_RPATH   := $(if $(filter /lib /usr/lib /lib64 /usr/lib64 \
              /lib/$(MULTIARCH) /usr/lib/$(MULTIARCH),$(LIBDIR)),,-Wl,-rpath,$${libdir})
# systemd units; *.in name the installed tools' directory.
UNITS      := $(patsubst systemd/%.in,%,$(wildcard systemd/*.in)) \
              $(notdir $(wildcard systemd/*.timer))

# Objects are kept: a tool rebuilt in one tree must not race the deletion
# of another's intermediate files.
.SECONDARY:

.PHONY: all deps check unit demo bench install uninstall clean checkusage fuzz \
	examples deb python

all: $(BINS) $(STATIC_LIB) $(SHARED_LIB) bench/simgen bench/pace python

# Each object depends on the headers it includes, as the compiler lists
# them (-MMD, in a .d file beside it): a header change rebuilds what uses
# it, and only that.
DEPFLAGS   := -MMD -MP

# The library's own functions stay inside libsimlog.so: only what the
# public headers (lib/simlog*.h) mark SIMLOG_API is exported.  The tools,
# unit tests and the Python module link the static library, internals
# and all.
$(O)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden $(DEPFLAGS) -c -o $@ $<

$(O)/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(STATIC_LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libsimlog.so.$(SOVERSION) $(ALL_LDFLAGS) \
		-o $@ $^ $(LIBS)


$(O)/bin/%: $(O)/cmd/%.o $(CMD_COMMON) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(CMD_COMMON) $(STATIC_LIB) $(LIBS)

$(O)/tests/%: tests/unit/%.c $(UNIT_LIB) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -Itests/unit -o $@ $< \
		$(UNIT_LIB) $(STATIC_LIB) $(LIBS)

$(O)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -Itests/unit \
		-DUNIT_BUILD_DIR='"$(abspath $(O))"' -c -o $@ $<

$(UNIT_LIB): $(UNIT_LIB_SRC:tests/unit/%.c=$(O)/tests/unit/%.o)
	rm -f $@
	$(AR) rcs $@ $^

# Against the static library of this tree; examples/Makefile builds them
# against an installed one, through pkg-config.
examples: $(EXAMPLES)

$(O)/examples/%: examples/%.c $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(EX_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) \
		$(LIBS)

bench/simgen: bench/simgen.c
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

# The paced producer of the --follow benchmark; tests/redis_faults.bats
# measures with it how long push ever blocks its producer.
bench/pace: bench/pace.c
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

# The Python module: the package python/simlog/ beside its C half, built
# against Debian's python3-dev with this tree's static library inside (so
# it needs no library path, here or installed).  The tree's own copy is
# $(O)/python, for PYTHONPATH.
PYTHON     ?= /usr/bin/python3
PY_CONFIG  := $(shell $(PYTHON) -c 'import sysconfig as s; \
	print(s.get_paths()["include"], s.get_config_var("EXT_SUFFIX"))' \
	2>/dev/null)
PY_INCLUDE := $(word 1,$(PY_CONFIG))
PY_SUFFIX  := $(word 2,$(PY_CONFIG))
PYTHONDIR  ?= $(PREFIX)/lib/python3/dist-packages
PY_SRC     := $(wildcard python/ext/*.c)
PY_OBJ     := $(PY_SRC:python/ext/%.c=$(O)/python/ext/%.o)
PY_FILES   := $(wildcard python/simlog/*.py)
PY_PKG     := $(PY_FILES:python/%=$(O)/python/%)
PY_MOD     := $(O)/python/simlog/_simlog$(PY_SUFFIX)

python: $(PY_MOD) $(PY_PKG)

$(O)/python/ext/%.o: python/ext/%.c
	@test -f "$(PY_INCLUDE)/Python.h" || { echo "simlog: $(PYTHON)'s \
	headers are missing: apt-get install python3-dev" >&2; exit 1; }
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -I$(PY_INCLUDE) -fvisibility=hidden \
		-c -o $@ $<

# Only PyInit__simlog leaves the module: the library inside stays its own.
$(PY_MOD): $(PY_OBJ) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) -shared $(ALL_LDFLAGS) -Wl,--exclude-libs,ALL -o $@ $(PY_OBJ) \
		$(STATIC_LIB) $(LIBS)

$(O)/python/simlog/%.py: python/simlog/%.py
	@mkdir -p $(@D)
	cp $< $@

# Missing Debian packages are installed when run as root; otherwise the
# exact apt-get line is printed.  Each target asks only for what it needs.
deps:
	@sh scripts/deps.sh check

# Suites that install run the plain build (build/std), several at once:
# build it before they start, so that none of them has to.
check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	$(if $(SANITIZE),@$(MAKE) --no-print-directory SANITIZE= all)
	@O=$(O) SANITIZE=$(SANITIZE) VALGRIND=$(VALGRIND) TESTS="$(TESTS)" JOBS="$(JOBS)" \
		sh tests/run.sh

# Some unit tests run a tool (bin/simlog-drain) too.
unit: $(BINS) $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

checkusage: $(BINS)
	@O=$(O) bats tests/usage.bats

demo:
	@sh scripts/deps.sh demo
	@$(MAKE) -s --no-print-directory all
	@O=$(O) sh scripts/demo.sh

bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@bash bench/run.sh $(O)/bin

# dpkg-buildpackage in a copy of the tree (it writes beside the source
# directory): the packages land in build/deb.
deb:
	@sh scripts/deps.sh deb
	@sh scripts/deb.sh $(VERSION)

# libFuzzer targets (tests/unit/fuzz_*.c), one per decoder of data from
# outside the process: the JSON scanner (jansson as the oracle), chunks,
# stream entries, the state codec, spool segments, schema files.  Each
# runs FUZZ_SECONDS under ASan+UBSan from its seeds in tests/fuzz/NAME;
# the corpus it grows and any crash file stay under build/fuzz.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/fuzz_*.c))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -Ilib $(DEP_CFLAGS) \
	-DSIMLOG_SCHEMA_DIR='"$(SCHEMADIR)"'
FUZZ_OBJ := $(LIB_SRC:lib/%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/libsimlog.a: $(FUZZ_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

build/fuzz/fuzz_%: tests/unit/fuzz_%.c build/fuzz/libsimlog.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libsimlog.a \
		$(DEP_LIBS) -lm -lpthread

fuzz:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=build/fuzz/%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t tests/fuzz/$$t; \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		    -rss_limit_mb=2048 -print_final_stats=1 \
		    -artifact_prefix=build/fuzz/$$t- build/fuzz/corpus/$$t \
		    tests/fuzz/$$t > build/fuzz/$$t.log 2>&1 || \
		    { tail -n 40 build/fuzz/$$t.log; echo "fuzz: $$t failed" \
		    "(build/fuzz/$$t.log)"; exit 1; }; \
		echo "fuzz: $$t: clean, $$(sed -n \
		    's/^stat::number_of_executed_units: *//p' \
		    build/fuzz/$$t.log) runs in $(FUZZ_SECONDS) s"; \
	done

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
		$(DESTDIR)$(DATADIR)/simlog $(DESTDIR)$(SCHEMADIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR)
	$(INSTALL) -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 644 schemas/*.schema $(DESTDIR)$(SCHEMADIR)
	$(INSTALL) -m 644 systemd/simlog.env $(DESTDIR)$(DATADIR)/simlog/simlog.env.example
	for u in $(UNITS); do \
		if [ -f systemd/$$u.in ]; then \
			sed -e 's|@BINDIR@|$(BINDIR)|g' \
			    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/$$u.in \
			    > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
			chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
		else \
			$(INSTALL) -m 644 systemd/$$u $(DESTDIR)$(SYSTEMDUNITDIR); \
		fi; \
	done
	$(INSTALL) -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)
	$(INSTALL) -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)
	ln -sf libsimlog.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsimlog.so.$(SOVERSION)
	ln -sf libsimlog.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libsimlog.so
	$(INSTALL) -m 644 $(PUBLIC_HDR) $(DESTDIR)$(INCLUDEDIR)
	# Written at install time: it names the PREFIX of this install.
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's| @RPATH@|$(if $(PC_RPATH), $(PC_RPATH))|' \
	    simlog.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/simlog.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/simlog.pc
	$(if $(MAN1),$(INSTALL) -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1)
	$(if $(MAN3),$(INSTALL) -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3)
	for f in $(MAN3_LINKS); do \
		echo '.so man3/libsimlog.3' > $(DESTDIR)$(MANDIR)/man3/$$f.3 && \
		chmod 644 $(DESTDIR)$(MANDIR)/man3/$$f.3 || exit 1; \
	done
	$(if $(MAN5),$(INSTALL) -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5)
	$(if $(MAN7),$(INSTALL) -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7)
	for t in $(TOOLS); do \
		$(INSTALL) -m 644 completions/$$t.bash $(DESTDIR)$(BASHCOMPDIR)/$$t; \
		$(INSTALL) -m 644 completions/_$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t; \
	done
	$(INSTALL) -d $(DESTDIR)$(PYTHONDIR)/simlog
	$(INSTALL) -m 644 $(PY_FILES) $(PY_MOD) $(DESTDIR)$(PYTHONDIR)/simlog
	@DESTDIR="$(DESTDIR)" CC="$(CC)" PYTHON="$(PYTHON)" \
		sh scripts/install-note.sh "$(BINDIR)" "$(LIBDIR)" "$(MANDIR)" \
		"$(PKGCONFIGDIR)" "$(SYSTEMDUNITDIR)" "$(PYTHONDIR)"
	@echo "simlog: the Python module is in $(PYTHONDIR)/simlog"

uninstall:
	for t in $(TOOLS); do \
		rm -f $(DESTDIR)$(BINDIR)/$$t $(DESTDIR)$(MANDIR)/man1/$$t.1 \
		      $(DESTDIR)$(BASHCOMPDIR)/$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t; \
	done
	rm -f $(patsubst schemas/%,$(DESTDIR)$(SCHEMADIR)/%,$(wildcard schemas/*.schema))
	rm -f $(UNITS:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%) \
	      $(DESTDIR)$(DATADIR)/simlog/simlog.env.example
	rm -f $(DESTDIR)$(LIBDIR)/libsimlog.a $(DESTDIR)$(LIBDIR)/libsimlog.so* \
	      $(PUBLIC_HDR:lib/%=$(DESTDIR)$(INCLUDEDIR)/%) \
	      $(DESTDIR)$(PKGCONFIGDIR)/simlog.pc \
	      $(MAN3:man/%=$(DESTDIR)$(MANDIR)/man3/%) \
	      $(MAN3_LINKS:%=$(DESTDIR)$(MANDIR)/man3/%.3) \
	      $(MAN5:man/%=$(DESTDIR)$(MANDIR)/man5/%) \
	      $(MAN7:man/%=$(DESTDIR)$(MANDIR)/man7/%)
	rm -rf $(DESTDIR)$(PYTHONDIR)/simlog

clean:
	rm -rf build bench/simgen bench/pace

# The header lists -MMD wrote (none before the first build).
-include $(wildcard $(O)/lib/*.d $(O)/lib/*/*.d $(O)/cmd/*.d $(O)/tests/*.d \
	$(O)/tests/unit/*.d \
	$(O)/examples/*.d $(O)/python/ext/*.d)
