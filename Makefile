# xpromo: `make run` starts everything with a demo partnership; `make test`
# runs every test against real Redis, ClickHouse and PostgreSQL servers.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/xpromo
SERVICES := scripts/services.sh
HTTP_ADDR ?= :8080

export XPROMO_REDIS_URL      ?= redis://127.0.0.1:$(or $(XPROMO_REDIS_PORT),16379)/0
export XPROMO_CLICKHOUSE_URL ?= clickhouse://127.0.0.1:$(or $(XPROMO_CH_PORT),19000)/xpromo
export XPROMO_POSTGRES_URL   ?= postgres://xpromo:xpromo@127.0.0.1:$(or $(XPROMO_PG_PORT),15432)/xpromo?sslmode=disable

.PHONY: help build run services services-down test test-clock test-tools test-short fuzz bench faults soak vet fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

build: ## build bin/xpromo
	$(GO) build -o $(BIN) ./cmd/xpromo

services: ## install (if missing) and start Redis, ClickHouse and PostgreSQL on their own ports
	@$(SERVICES) up

services-down: ## stop the Redis, ClickHouse and PostgreSQL started by `make services`
	@$(SERVICES) down

run: build ## start the servers, migrate, seed the demo, run `xpromo serve` (Ctrl-C stops all it started)
	@scripts/run.sh "$(HTTP_ADDR)"

test: services test-tools vet ## run every test (race detector on) against the real servers
	$(GO) test -race -count=1 -timeout 30m ./...

# The whole suite once more with the tests' clock moved (testkit/testenv
# Clock): a test that passes only in the month it was written fails here.
TEST_NOW ?= 2027-03-15T10:00:00Z
test-clock: services test-tools ## every test again with the clock moved to TEST_NOW (no race detector)
	XPROMO_TEST_NOW=$(TEST_NOW) $(GO) test -count=1 -timeout 30m ./...

test-tools: ## install what the tests need besides the servers (node, curl, openssl)
	@scripts/test-tools.sh

test-short: services test-tools ## the tests without the race detector
	$(GO) test -count=1 ./...

vet: ## go vet and gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(go list -f '{{.Dir}}' ./...)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@scripts/fuzz.sh $(or $(FUZZTIME),30s)

bench: build services ## throughput and latency against a bare handler, ingest rate
	@scripts/bench.sh

faults: services ## fault-injection suite, full form (~27 min, root): writes the table into docs/RELIABILITY.md
	@scripts/faults.sh

soak: services ## SOAK (default 30m) at half capacity: flat memory and goroutines, exact reports
	@scripts/soak.sh

fmt:
	gofmt -w $$(go list -f '{{.Dir}}' ./...)

clean: ## remove build output (not the servers' data)
	rm -rf bin
