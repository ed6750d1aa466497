# Thin wrapper over CMake.  `make demo` and `make test` are the README's two
# commands: each installs what is missing, builds, and runs.
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-normal test-asan fuzz bench bench-quick install clean

# Quiet by default: no "Entering directory" from the makes cmake runs, no
# cmake configure chatter (warnings and errors still show).  VERBOSE=1
# brings everything back.
ifeq ($(VERBOSE),)
MAKEFLAGS += --no-print-directory
CMAKE_QUIET := --log-level=WARNING
endif

all: build

build:
	@bash scripts/deps.sh build
	cmake $(CMAKE_QUIET) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)

demo: build
	bash scripts/demo.sh build

test-normal:
	@bash scripts/deps.sh test
	cmake $(CMAKE_QUIET) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)
	ctest --test-dir build --output-on-failure -j 2

test-asan:
	@bash scripts/deps.sh test
	cmake $(CMAKE_QUIET) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOXPROF_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j 2

fuzz:
	@bash scripts/deps.sh test
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

# The whole suite: normal build, sanitizer build, then the fuzzer.
test: test-normal test-asan fuzz

bench:
	@bash scripts/deps.sh bench
	cmake $(CMAKE_QUIET) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j $(JOBS)
	bash bench/run.sh

bench-quick:
	$(MAKE) bench BENCH_QUICK=1

install: build
	cmake --install build

clean:
	rm -rf build build-asan build-fuzz
