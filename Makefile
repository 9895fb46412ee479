# supamon: PGXS build.  `make && make install`, then `make installcheck`
# (pg_regress against a throwaway server), `make prove-installcheck` (TAP,
# several servers) and `make unitcheck` (pure C modules, no server).

EXTENSION = supamon
MODULE_big = supamon
# Pure modules (no backend headers): unit tested and fuzzed outside the server.
PURE_SRCS = \
	src/schedule_parse.c \
	src/schedule_time.c \
	src/schedule_describe.c \
	src/health.c \
	src/redact.c \
	src/alert_text.c \
	src/pgnet.c

OBJS = \
	$(PURE_SRCS:.c=.o) \
	src/schedule_sql.o \
	src/textclean.o \
	src/subxact.o \
	src/spi.o \
	src/http.o \
	src/json_read.o \
	src/edge.o \
	src/deliver.o \
	src/channel.o \
	src/silence.o \
	src/conninfo_mask.o \
	src/remote.o \
	src/pool.o \
	src/collect.o \
	src/inventory.o \
	src/edge_record.o \
	src/pgnet_record.o \
	src/audit.o \
	src/project.o \
	src/check.o \
	src/watch.o \
	src/cron_call.o \
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

EXTRA_CLEAN = tmp_check results regression.diffs regression.out log \
	test/unit/test_schedule test/unit/test_health test/unit/test_conninfo_mask test/unit/test_redact \
	test/unit/test_alert_text test/unit/test_pgnet \
	test/fuzz/fuzz_schedule test/fuzz/fuzz_redact test/fuzz/fuzz_alert_text bench/schedule_bench

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# TAP tests live in test/t; PGXS only knows t/.
PROVE_TESTS ?= test/t/*.pl
# Three files at a time: most of their time is spent waiting for pg_cron's
# minutes, and each picks its own ports and directories.
PROVE_FLAGS += --timer -j3
.PHONY: prove-installcheck
prove-installcheck:
	$(prove_installcheck)

# Unit tests of the pure modules, with AddressSanitizer and UBSan.
UNIT_CFLAGS = -std=c11 -O1 -g -Wall -Wextra -Werror -Isrc \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
test/unit/test_schedule: test/unit/test_schedule.c test/unit/unit.h $(PURE_SRCS) src/schedule.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_schedule.c $(PURE_SRCS)

test/unit/test_health: test/unit/test_health.c test/unit/unit.h $(PURE_SRCS) src/health.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_health.c $(PURE_SRCS)

test/unit/test_conninfo_mask: test/unit/test_conninfo_mask.c test/unit/unit.h src/conninfo_mask.c src/conninfo_mask.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_conninfo_mask.c src/conninfo_mask.c

test/unit/test_redact: test/unit/test_redact.c test/unit/unit.h test/unit/utf8_check.h $(PURE_SRCS) src/redact.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_redact.c $(PURE_SRCS)

test/unit/test_pgnet: test/unit/test_pgnet.c test/unit/unit.h $(PURE_SRCS) src/pgnet.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_pgnet.c $(PURE_SRCS)

test/unit/test_alert_text: test/unit/test_alert_text.c test/unit/unit.h test/unit/alert_check.h test/unit/utf8_check.h $(PURE_SRCS) src/alert_text.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_alert_text.c $(PURE_SRCS)

.PHONY: unitcheck
unitcheck: test/unit/test_schedule test/unit/test_health test/unit/test_conninfo_mask test/unit/test_redact \
		test/unit/test_alert_text test/unit/test_pgnet
	./test/unit/test_schedule $(UNIT_ROUNDS)
	./test/unit/test_health
	./test/unit/test_conninfo_mask
	./test/unit/test_redact
	./test/unit/test_alert_text $(UNIT_ROUNDS)
	./test/unit/test_pgnet

# libFuzzer targets for the schedule parser, the redaction of secrets and
# the alert texts (clang with libclang-rt-14-dev); fuzzcheck gives each a
# third of FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_THIRD = $(shell echo $$(( $(FUZZ_SECONDS) >= 3 ? $(FUZZ_SECONDS) / 3 : 1 )))
test/fuzz/fuzz_schedule: test/fuzz/fuzz_schedule.c $(PURE_SRCS) src/schedule.h
	clang -g -O1 -Isrc -fsanitize=fuzzer,address,undefined -o $@ test/fuzz/fuzz_schedule.c $(PURE_SRCS)

test/fuzz/fuzz_redact: test/fuzz/fuzz_redact.c test/unit/utf8_check.h $(PURE_SRCS) src/redact.h
	clang -g -O1 -Wall -Wextra -Werror -Isrc -fsanitize=fuzzer,address,undefined -o $@ test/fuzz/fuzz_redact.c $(PURE_SRCS)

test/fuzz/fuzz_alert_text: test/fuzz/fuzz_alert_text.c test/unit/alert_check.h test/unit/utf8_check.h $(PURE_SRCS) src/alert_text.h
	clang -g -O1 -Wall -Wextra -Werror -Isrc -fsanitize=fuzzer,address,undefined -o $@ test/fuzz/fuzz_alert_text.c $(PURE_SRCS)

.PHONY: fuzzcheck
fuzzcheck: test/fuzz/fuzz_schedule test/fuzz/fuzz_redact test/fuzz/fuzz_alert_text
	mkdir -p test/fuzz/corpus test/fuzz/corpus-redact test/fuzz/corpus-alert-text
	@./test/fuzz/fuzz_schedule -max_total_time=$(FUZZ_THIRD) -max_len=256 -detect_leaks=1 \
		-dict=test/fuzz/schedule.dict test/fuzz/corpus test/fuzz/seeds > test/fuzz/fuzz.log 2>&1 \
		|| { tail -n 60 test/fuzz/fuzz.log; exit 1; }
	@grep -E '^Done [0-9]+ runs' test/fuzz/fuzz.log
	@./test/fuzz/fuzz_redact -max_total_time=$(FUZZ_THIRD) -max_len=1024 -detect_leaks=1 \
		-dict=test/fuzz/redact.dict test/fuzz/corpus-redact test/fuzz/seeds-redact > test/fuzz/fuzz_redact.log 2>&1 \
		|| { tail -n 60 test/fuzz/fuzz_redact.log; exit 1; }
	@grep -E '^Done [0-9]+ runs' test/fuzz/fuzz_redact.log
	@./test/fuzz/fuzz_alert_text -max_total_time=$(FUZZ_THIRD) -max_len=8192 -detect_leaks=1 \
		-dict=test/fuzz/alert_text.dict test/fuzz/corpus-alert-text test/fuzz/seeds-alert-text \
		> test/fuzz/fuzz_alert_text.log 2>&1 \
		|| { tail -n 60 test/fuzz/fuzz_alert_text.log; exit 1; }
	@grep -E '^Done [0-9]+ runs' test/fuzz/fuzz_alert_text.log
