# Guildhall. `make run` runs the whole system locally; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TEMPORAL_VERSION := 1.5.1
# As tools/*/build.sh and internal/toolcache: ${XDG_CACHE_HOME:-~/.cache}/guildhall.
CACHE            ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/guildhall
TEMPORAL_BIN     := $(CACHE)/temporal-$(TEMPORAL_VERSION)/temporal
GO_TEST_FLAGS    ?= -timeout 25m
# axe-core for the browser accessibility checks: version and SHA-256 of
# axe.min.js are pinned in one file, which the tests read too.
AXE_PIN          := web/browsertest/axe-core.pin
AXE_VERSION      := $(word 1,$(shell cat $(AXE_PIN)))
AXE_SHA256       := $(word 2,$(shell cat $(AXE_PIN)))
AXE_JS           := $(CACHE)/axe-core-$(AXE_VERSION)/axe.min.js
export TEMPORAL_BIN AXE_JS

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: run
run: tools build ## Run everything locally: Temporal dev server, embedded DB, worker and web on :4000
	./bin/guildhall dev --start-temporal

.PHONY: build
build: ## Build bin/guildhall
	go build -o bin/guildhall ./cmd/guildhall

.PHONY: tools
tools: $(TEMPORAL_BIN) ## Install the temporal CLI v$(TEMPORAL_VERSION) (cached in ~/.cache/guildhall)
	@mkdir -p bin && ln -sf "$(TEMPORAL_BIN)" bin/temporal

$(TEMPORAL_BIN):
	@echo "Building the temporal CLI v$(TEMPORAL_VERSION) into $(dir $@) (first time only; takes minutes)..."
	GOBIN="$(dir $@)" go install github.com/temporalio/cli/cmd/temporal@v$(TEMPORAL_VERSION)

.PHONY: axe
axe: $(AXE_JS) ## Fetch axe-core (pinned in web/browsertest/axe-core.pin) from the npm registry, for the accessibility tests

$(AXE_JS): $(AXE_PIN)
	@echo "Fetching axe-core $(AXE_VERSION) from the npm registry into $(dir $@)..."
	@command -v npm >/dev/null || { echo "npm is needed once to fetch axe-core: apt-get install npm" >&2; exit 1; }
	@tmp="$$(mktemp -d)" && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent "axe-core@$(AXE_VERSION)" >/dev/null && tar -xzf "axe-core-$(AXE_VERSION).tgz" package/axe.min.js) && \
	  echo "$(AXE_SHA256)  $$tmp/package/axe.min.js" | sha256sum --check --quiet && \
	  mkdir -p "$(dir $@)" && mv "$$tmp/package/axe.min.js" "$@" && touch "$@"

.PHONY: testbin
testbin: ## Build kube-apiserver and etcd for the watcher tests (cached in ~/.cache/guildhall)
	tools/k8s-testbin/build.sh >/dev/null

.PHONY: temporal-server
temporal-server: ## Build the Temporal server on PostgreSQL for the tests (go.temporal.io/server; cached in ~/.cache/guildhall)
	tools/temporal-server/build.sh >/dev/null

# The suites that run a second time on the PostgreSQL-backed Temporal server
# (production's persistence and SQL visibility): the README's CLI block and
# list filters, the ceremony lifecycle, the watcher end to end, and the chaos
# tests for a server restart and a worker kill.
POSTGRES_SUITES := ./worker ./watcher/integration ./e2e
POSTGRES_CHAOS  := TestTemporalRestart|TestKillWorkerWhileSigning

.PHONY: test
test: tools testbin axe temporal-server ## Run every test: unit, integration (dev server and PostgreSQL-backed server, Postgres, kube-apiserver), browser, chaos
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v '/chaos$$')
	GUILDHALL_TEST_TEMPORAL=postgres go test $(GO_TEST_FLAGS) $(POSTGRES_SUITES)
	@# The chaos tests load both cores on purpose (500 signers, outages); run them
	@# alone so they do not starve the timing-sensitive browser flows.
	go test $(GO_TEST_FLAGS) ./chaos
	GUILDHALL_TEST_TEMPORAL=postgres go test $(GO_TEST_FLAGS) -run '$(POSTGRES_CHAOS)' ./chaos

.PHONY: screenshots
screenshots: tools axe ## Full-page screenshots of every page, desktop and phone width, into screenshots/ (not committed)
	@rm -rf screenshots/browsertest/pages
	@TEST_OUTPUT="$(CURDIR)/screenshots" go test -count=1 -run '^TestEveryPage$$' ./web/browsertest; status=$$?; \
	  echo "Screenshots: $(CURDIR)/screenshots/browsertest/pages/desktop and .../phone"; exit $$status

.PHONY: generate
generate: ## Regenerate templ output
	go tool templ generate -path web

.PHONY: check-generated
check-generated: ## Fail when committed generated files are stale
	go tool templ generate -path web
	@git diff --exit-code -- '*_templ.go' || { echo "templ output is stale: run 'make generate' and commit"; exit 1; }

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

.PHONY: bump
bump: ## Set the release tag in deploy/k8s (image tag + migration Job name): make bump TAG=v0.1.1
	@test -n "$(TAG)" || { echo "usage: make bump TAG=vX.Y.Z" >&2; exit 2; }
	go run ./tools/bump -tag "$(TAG)"

.PHONY: bench
bench: tools build ## Benchmarks on a self-contained stack (see BENCHMARKS.md): signing vs bare Temporal, list pages, worker memory
	go build -o bin/guildhall-bench ./cmd/guildhall-bench
	./bin/guildhall-bench --self-contained --markdown BENCHMARKS.md
	go test ./web -run '^$$' -bench PageP99 -benchtime 1x
	./bin/guildhall-bench memory --guildhall bin/guildhall --markdown BENCHMARKS.md

.PHONY: chaos
chaos: tools temporal-server ## Fault-injection and security tests on a real stack (see RELIABILITY.md; also part of make test)
	go test $(GO_TEST_FLAGS) -count=1 -v ./chaos ./securitytest
