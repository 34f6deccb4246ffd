# The two commands of the README, and the others. CMake does the building;
# this file only names the jobs.
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local

.PHONY: all run test test-plain bench bench-scaling bench-device soak fuzz verify redis-suite format install deps clean

# Quiet: the build's output goes to build/plain.log and is shown on failure.
all: deps
	@tools/build.sh build/plain $(JOBS) -DCMAKE_BUILD_TYPE=RelWithDebInfo

deps:
	@tools/deps.sh base

# The main job: the examples, built and run.
run: all
	@tools/run-examples.sh build/plain

# Every test: plain, ASan+UBSan and TSan builds, and the format check.
test: deps
	@tools/run-tests.sh
	@tools/fuzz.sh 20

test-plain: deps
	@tools/run-tests.sh plain

# Every table it prints is also drawn, as build/plain/bench/plots/*.svg.
bench: all
	@tools/deps.sh bench
	@bench/run.sh build/plain
	@bench/server.sh build/plain
	@STEWARDD_ARGS="--shards 1" MEM_KEYS=0 TAG=shards1 bench/server.sh build/plain
	@bench/multikey.sh build/plain
	@bench/proxy.sh build/plain
	@bench/plot.sh build/plain

# stewardd --shards L against redis-server --io-threads L, L = 1..16: meant
# for a machine with 16 cores or more.
bench-scaling: all
	@tools/deps.sh bench
	@bench/scaling.sh build/plain

# A static stewardd and the redis programs with their libraries in
# build/carry/, for a machine without our packages (there: bench/device.sh run).
bench-device: deps
	@tools/deps.sh bench
	@bench/device.sh prepare

# The stress tests at sizes too big for `make test`, then stewardd under
# faults (killed clients, slow readers, SIGKILLs in appendfsync always)
# checked against a model: tests/soak/soak.py.
SOAK_SECONDS ?= 180
soak: all
	build/plain/tests/stress_chan 16 200000
	build/plain/tests/stress_owner 64 100000
	build/plain/tests/stress_db 64 100000
	build/plain/tests/stress_ledger 32 100000
	build/plain/tests/crash_db 300
	build/plain/tests/crash_ledger 300
	build/plain/tests/crash_states 100 24
	@tools/soak-server.sh build/plain $(SOAK_SECONDS)

# libFuzzer on the RESP parser, the record codec and recovery (clang, ASan, UBSan).
fuzz: deps
	@tools/fuzz.sh 300

# Redis's own test suite (strings, INCR, keyspace, expiry, protocol) against stewardd.
redis-suite: all
	@tools/redis-suite.sh build/plain/src/server/stewardd

# The model checks of the channel protocol (spin; see docs/verification.md).
verify: deps
	@tools/verify.sh

format:
	clang-format -i $$(git ls-files -co --exclude-standard -- '*.c' '*.h')

install: all
	cmake --install build/plain --prefix $(PREFIX)

clean:
	rm -rf build
