# Tidemark's entry points. Every target installs what it needs first, so a fresh
# clone needs only `make test` (see README).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The project brings its own Node.js 24 (npm package `node`): put it first.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
NODE := node --disable-warning=ExperimentalWarning

# Unit tests need no cluster; *.int.test.ts need the local sandbox (make env-up).
UNIT_TESTS = $(shell find test -name '*.test.ts' ! -name '*.int.test.ts' | sort)
INT_TESTS = $(shell find test -name '*.int.test.ts' | sort)

.PHONY: help deps build lint typecheck format test test-unit test-fuzz test-integration bench bench-scale bench-live env-up env-down demo gen clean image test-real-node test-level5-acting test-keda

help:
	@echo "make test         lint, type-check, unit tests, then integration/e2e tests in the local sandbox"
	@echo "make test-unit    tests that need no cluster"
	@echo "make test-fuzz    the property tests of test/crd and test/fuzz at 5,000 cases each (nightly; FUZZ_RUNS=n)"
	@echo "make lint         biome (lint + format check) and tsc"
	@echo "make build        compile to dist/"
	@echo "make bench        benchmarks; results in bench/results/"
	@echo "make bench-scale  operator at 1,000/5,000/10,000 policies, then 3 sharded replicas, in its own sandbox (SCALE_SIZES=100,500 SCALE_SHARDED=none)"
	@echo "make bench-live   Tidemark (15 s, 5 s) and the real KEDA on the same load in a sandbox, beside the simulator (~30 min)"
	@echo "make env-up       start the local control plane + Prometheus (.sandbox/env.sh)"
	@echo "make env-down     stop it"
	@echo "make demo         sandbox + operator + a simulated workload scaling live"
	@echo "make image        build the Dockerfile with podman into tidemark:<version> (local node:24-slim stand-in)"
	@echo "make test-real-node  the image as real pods (helm install) on a real node, in a sandbox of its own"
	@echo "make test-keda    the real KEDA in a sandbox of its own scaling a KWOK Deployment (builds KEDA once: ~17 min cold)"

# `npm ci` installs exactly package-lock.json and never writes it, so a fresh
# clone's `make test` leaves `git status` clean (`npm install` rewrote the lock).
# It works since the lock carries every platform's optional @biomejs/cli-* entry
# (npm ci refused the older lock, which lacked them); it fails, naming the
# package, when package.json and the lock disagree: then run `npm install X` and
# commit both. It empties node_modules first, so it runs only when either changes.
# npm ci runs on the machine's Node.js, which may be older than the project's 24 (the npm
# package `node`, which this very install brings): npm then warns EBADENGINE, five lines
# for each package that asks for 24. Those are said once, in one line; every other line,
# and npm's exit status, pass through.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund 2>&1 | { grep -v 'EBADENGINE' || true; }
	@[[ $$(command -p node --version 2>/dev/null) == v24.* ]] || echo "npm ran on Node.js $$(command -p node --version 2>/dev/null || echo '(none)'); the project's own Node.js 24 is now in node_modules/.bin (npm's EBADENGINE warnings about the difference are left out)"
	@touch $@

deps: node_modules/.installed

# Everything generated from the CRD and the metric table (tests fail when a
# generated file is stale), and the README's first-screen picture and numbers,
# from a run of the quick start it shows (no staleness test: they follow the engine).
gen: deps
	$(NODE) scripts/gen-types.ts
	$(NODE) scripts/gen-deploy.ts
	$(NODE) scripts/gen-docs.ts
	$(NODE) scripts/gen-dashboards.ts
	$(NODE) scripts/gen-readme-figure.ts

build: deps
	rm -rf dist
	tsc -p tsconfig.build.json

typecheck: deps
	tsc -p tsconfig.json

lint: deps typecheck
	biome check .

format: deps
	biome check --write .

# Two files at a time (node's default on 2 cores is one): many unit tests wait on a child
# process (the CLI tests), so this halves the wall time (249 s -> 140 s measured).
test-unit: deps
	$(NODE) --test --test-concurrency=2 --test-reporter=spec $(UNIT_TESTS)

# The property tests at many cases, for a nightly job: make test runs a few hundred, and the
# conversion's lossy round trip (issue 18) first failed at case 342 of 5,000 with the same seed.
# One file at a time: each is CPU-bound for minutes.
FUZZ_RUNS ?= 5000
FUZZ_TESTS = $(shell find test/crd test/fuzz -name '*.test.ts' ! -name '*.int.test.ts' | sort)
test-fuzz: deps
	TIDEMARK_FUZZ_RUNS=$(FUZZ_RUNS) $(NODE) --test --test-concurrency=1 --test-reporter=spec $(FUZZ_TESTS)

# Files that mostly wait on the clock and disturb nothing run beside the others
# (sandbox/run-int-tests.sh says which and why).
# The bench-live smoke test waits out its 5-minute step the same way, in its own namespace.
INT_BESIDE = test/backtest/backtest.int.test.ts test/bench/live.int.test.ts
# The upgrade test installs an older release's CRD, so it runs before any other file.
INT_FIRST = test/e2e/upgrade.int.test.ts
test-integration: deps
	TIDEMARK_REQUIRE_SANDBOX=1 TIDEMARK_FIRST="$(INT_FIRST)" TIDEMARK_BESIDE="$(INT_BESIDE)" sandbox/with-sandbox.sh sandbox/run-int-tests.sh $(INT_TESTS)

# test-real-node last: a sandbox of its own with a real node (about 4 min once the image
# and the kubelet are cached).
test: lint test-unit test-integration test-real-node

# Every *.csv in TRACES plus seeded synthetic traces, each at its own scale (bench/simulate.ts).
TRACES ?= ../shared/traces
bench: deps
	$(NODE) bench/simulate.ts --traces $(TRACES)

# The scale benchmark (bench/scale.ts) in a sandbox of its own, so it never disturbs a test
# sandbox in .sandbox/; SCALE_SIZES=100,500 SCALE_SHARDED=3x300@15 for a quick run. Writes
# bench/results/scale.{json,md}.
SCALE_SANDBOX_DIR ?= $(or $(TMPDIR),/tmp)/tidemark-scale-sandbox
bench-scale: deps
	TIDEMARK_SANDBOX_DIR=$(SCALE_SANDBOX_DIR) sandbox/with-sandbox.sh $(NODE) bench/scale.ts

# Tidemark and the real KEDA side by side in a sandbox of its own with every clock compressed
# 5x (bench/live.ts says which; the scrape interval, the HPA's sync period and its default
# scale-down stabilization are set here to 15 s / 5 and 5 min / 5; TIDEMARK_KEDA=1 runs the real
# KEDA, built once into the cache), about 30 minutes. Writes bench/results/live.{md,json} and live-*.svg.
LIVE_SANDBOX_DIR ?= $(or $(TMPDIR),/tmp)/tidemark-live-sandbox
bench-live: deps
	LIVE_SPEEDUP=5 TIDEMARK_SCRAPE_INTERVAL=3s TIDEMARK_HPA_SYNC_PERIOD=3s \
	  TIDEMARK_KEDA=1 TIDEMARK_HPA_DOWNSCALE_STABILIZATION=60s \
	  TIDEMARK_SANDBOX_DIR=$(LIVE_SANDBOX_DIR) sandbox/with-sandbox.sh $(NODE) bench/live.ts

env-up: deps
	sandbox/env-up.sh

env-down:
	sandbox/env-down.sh

# scripts/demo.ts runs sandbox/env-up.sh itself (reusing a running sandbox), so
# that a failed start ends the demo with one clear message. DEMO_SECONDS=N
# shortens it.
demo: deps
	$(NODE) scripts/demo.ts

# The shipped Dockerfile, unchanged, built with podman (no Docker engine here) on a
# local stand-in for node:24-slim (no registry is reachable); see sandbox/image.sh.
image: deps
	sandbox/image.sh

# Tidemark as real pods: a sandbox of its own (so it never disturbs .sandbox/) with the
# opt-in real node (sandbox/real-node.sh: kubelet + containerd; the image from
# sandbox/image.sh imported), then test/deploy/real-node.e2e.ts.
REAL_NODE_SANDBOX_DIR ?= $(or $(TMPDIR),/tmp)/tidemark-real-node-sandbox
test-real-node: deps
	TIDEMARK_REAL_NODE=1 TIDEMARK_SANDBOX_DIR=$(REAL_NODE_SANDBOX_DIR) sandbox/with-sandbox.sh \
	  $(NODE) --test --test-reporter=spec test/deploy/real-node.e2e.ts

# The real KEDA (sandbox/keda.sh; built once into the cache by sandbox/build-keda.sh, about
# 66 minutes cold on a loaded 2-core machine, hence not in make test) in a sandbox of its own: a ScaledObject
# on the workload simulator's metric scales a KWOK Deployment through KEDA's HPA in the
# sandbox's kube-controller-manager (test/sandbox/keda.e2e.ts).
KEDA_SANDBOX_DIR ?= $(or $(TMPDIR),/tmp)/tidemark-keda-sandbox
test-keda: deps
	TIDEMARK_KEDA=1 TIDEMARK_REQUIRE_SANDBOX=1 TIDEMARK_SANDBOX_DIR=$(KEDA_SANDBOX_DIR) sandbox/with-sandbox.sh \
	  $(NODE) --test --test-reporter=spec test/sandbox/keda.e2e.ts

# Level 5 acting through the gate, live, on its own (make test-integration runs it with the
# rest of test/e2e/level5.int.test.ts): about 5 minutes, in the shared-sandbox way of make test.
test-level5-acting: deps
	sandbox/with-sandbox.sh $(NODE) --test --test-reporter=spec --test-name-pattern='Level 5 acts' test/e2e/level5.int.test.ts

clean:
	rm -rf dist node_modules
