# supamon: PGXS build.  `make && make install`, then `make installcheck`
# (pg_regress against a throwaway server), `make prove-installcheck` (TAP,
# several servers) and `make unitcheck` (pure C modules, no server).

EXTENSION = supamon
MODULE_big = supamon
OBJS = \
	src/supamon.o \
	src/worker.o

DATA = $(wildcard sql/supamon--*.sql)

# Every file in sql/ that is not an extension script is a regression test.
REGRESS = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/supamon--%.sql,$(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=./tmp_check

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(libpq_srcdir) -Isrc
# PostgreSQL's own headers are not -Wextra clean about unused parameters.
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Werror
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK = -lcurl

EXTRA_CLEAN = tmp_check results regression.diffs regression.out log test/unit/*.o test/unit/run

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# TAP tests live in test/t; PGXS only knows t/.
PROVE_TESTS ?= test/t/*.pl
PROVE_FLAGS += --timer
.PHONY: prove-installcheck
prove-installcheck:
	$(prove_installcheck)
