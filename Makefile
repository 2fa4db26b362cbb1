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
TRACE ?= ../shared/traces/nasa_per_minute.csv

.PHONY: help deps build lint typecheck format test test-unit test-integration bench env-up env-down demo gen clean

help:
	@echo "make test         lint, type-check, unit tests, then integration/e2e tests in the local sandbox"
	@echo "make test-unit    tests that need no cluster"
	@echo "make lint         biome (lint + format check) and tsc"
	@echo "make build        compile to dist/"
	@echo "make bench        benchmarks; results in bench/results/"
	@echo "make env-up       start the local control plane + Prometheus (.sandbox/env.sh)"
	@echo "make env-down     stop it"
	@echo "make demo         sandbox + operator + a simulated workload scaling live"

# `npm install` honours package-lock.json like `npm ci`, but tolerates the
# registry here not serving other platforms' optional packages (@biomejs/cli-*),
# which makes `npm ci` refuse the lock file.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

gen: deps
	$(NODE) scripts/gen-types.ts

build: deps
	rm -rf dist
	tsc -p tsconfig.build.json

typecheck: deps
	tsc -p tsconfig.json

lint: deps typecheck
	biome check .

format: deps
	biome check --write .

test-unit: deps
	$(NODE) --test --test-reporter=spec $(UNIT_TESTS)

test-integration: deps
	sandbox/with-sandbox.sh $(NODE) --test --test-concurrency=1 --test-reporter=spec $(INT_TESTS)

test: lint test-unit test-integration

bench: deps
	$(NODE) bench/simulate.ts --trace $(TRACE)

env-up: deps
	sandbox/env-up.sh

env-down:
	sandbox/env-down.sh

demo: deps
	sandbox/env-up.sh
	$(NODE) scripts/demo.ts

clean:
	rm -rf dist node_modules
