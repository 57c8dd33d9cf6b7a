# Portico: build, run and test. Every target first makes sure the Debian packages it needs are
# installed (scripts/install-deps.sh is idempotent and does nothing when all are present).
#
#   make build      Release build in build/ (cmake -G Ninja, ninja -j$(JOBS))
#   make run        build, then the quickstart: three demo services + the gateway (Ctrl-C stops)
#   make test       everything CI runs: unit tests (Release, ASan+UBSan, TSan), the end-to-end
#                   suite against the ASan gateway and its threaded suites against the TSan one
#                   (TSAN_E2E), a fuzz smoke run, then the whole end-to-end suite on the Release
#                   build (pytest's summary is the last line)
#   make test-unit  unit tests of the Release build only
#   make test-e2e   end-to-end tests only (add E2E_ARGS='-m "not slow"' to skip the 1 GiB ones)
#   make bench      load benchmark against nginx and haproxy; writes bench/RESULTS.md
#   make fuzz       every fuzz target for FUZZ_LONG_SECONDS each
#   make format     clang-format -i on src/ and tests/fuzz/
#   make clean      remove the build trees
#
# Build trees: build/ (Release), build-asan/ (Debug, -DPORTICO_SANITIZE=address: ASan+UBSan),
# build-tsan/ (Debug, -DPORTICO_SANITIZE=thread), build-fuzz/ (clang++, -DPORTICO_FUZZ=ON and
# -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined so that the libraries under test
# are instrumented too; the fuzz executables themselves link with -fsanitize=fuzzer, see
# tests/fuzz/CMakeLists.txt). The sanitizer trees build only the *_test targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := build

JOBS ?= 2
PYTHON ?= /usr/bin/python3
CMAKE_GEN := -G Ninja
FUZZ_SECONDS ?= 15
FUZZ_LONG_SECONDS ?= 300
E2E_ARGS ?=

# ccache: paths relative to the checkout, so a fresh clone elsewhere (CI) still hits the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# The end-to-end suites the TSan gateway runs: those where threads share state. ASan runs them all.
TSAN_E2E := $(addprefix tests/e2e/,test_lifecycle.py test_upstream_state.py test_resilience.py \
            test_balancing.py test_auth_jwks.py test_auth_providers.py test_listener_tls.py \
            test_observability.py test_upstream_metrics.py test_websocket.py test_rate_limit.py \
            test_rate_limit_redis.py test_cache.py test_cache_redis.py test_aggregate.py)

# Names of the *_test (or *_fuzz) targets a configured tree knows.
targets_of = $$(ninja -C $(1) -t targets all | grep -o '^[a-z0-9_]*_$(2):' | grep -v '^cmake_' | tr -d : | sort -u || true)

.PHONY: deps deps-bench build run test test-unit test-asan test-tsan test-fuzz test-e2e \
        bench fuzz format clean

deps:
	@scripts/install-deps.sh

deps-bench:
	@scripts/install-deps.sh --bench

build: deps
	cmake -S . -B build $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release
	ninja -C build -j$(JOBS)

run: build
	scripts/run-quickstart.sh

test: build test-unit test-asan test-tsan test-fuzz test-e2e

test-unit: build
	ctest --test-dir build --output-on-failure -j$(JOBS)

test-asan: deps
	cmake -S . -B build-asan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DPORTICO_SANITIZE=address
	tests="$(call targets_of,build-asan,test)"; \
	if [[ -z "$$tests" ]]; then echo "test-asan: no *_test targets"; exit 0; fi; \
	ninja -C build-asan -j$(JOBS) $$tests portico; \
	$(ASAN_ENV) ctest --test-dir build-asan --output-on-failure -j$(JOBS)
	@echo "test-asan: end-to-end suite (without the 1 GiB transfers) against the ASan+UBSan gateway"
	$(ASAN_ENV) PORTICO_BIN=$(CURDIR)/build-asan/portico $(PYTHON) -m pytest tests/e2e -q -p no:cacheprovider -m "not slow"

test-tsan: deps
	cmake -S . -B build-tsan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DPORTICO_SANITIZE=thread
	tests="$(call targets_of,build-tsan,test)"; \
	if [[ -z "$$tests" ]]; then echo "test-tsan: no *_test targets"; exit 0; fi; \
	ninja -C build-tsan -j$(JOBS) $$tests portico; \
	$(TSAN_ENV) ctest --test-dir build-tsan --output-on-failure -j$(JOBS)
	@echo "test-tsan: the end-to-end suites where threads meet (reload, drain, shared upstream state, the control plane, metrics scrapes, TLS ticket keys) against the TSan gateway"
	$(TSAN_ENV) PORTICO_BIN=$(CURDIR)/build-tsan/portico $(PYTHON) -m pytest $(TSAN_E2E) -q -p no:cacheprovider -m "not slow"

# Fuzz targets built with clang++ in build-fuzz/ and run $(FUZZ_SECONDS) s each (scripts/fuzz.sh;
# skipped when clang++ is missing).
test-fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz: deps
	scripts/fuzz.sh $(FUZZ_LONG_SECONDS)

test-e2e: build
	$(PYTHON) -m pytest tests/e2e -q $(E2E_ARGS)

bench: deps-bench build
	bench/run.sh

format: deps
	find src tests/fuzz \( -name '*.cc' -o -name '*.h' \) -print0 | xargs -0 -r clang-format -i

clean:
	rm -rf build build-asan build-tsan build-fuzz
