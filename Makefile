# vaultpage. `make test` is the README's test command; `make check` is what
# CI runs and what to run before a push: lint, vet, formatting, templ
# freshness, then the race-enabled tests.
GO ?= go
SHELL := bash
# The linter's version is pinned here, and only here; `make tools` installs
# it. (Not LINT: GNU make defines that one itself.)
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT ?= $(shell $(GO) env GOPATH)/bin/golangci-lint

.PHONY: run test check lint vet fmt-check templ-check tools fuzz bench build

run:
	$(GO) run ./cmd/vaultpage serve

# PostgreSQL tests run when VAULTPAGE_TEST_DATABASE_URL is set (CI sets it and
# PG_REQUIRED=1); the SoftHSM2 test runs where softhsm2 is installed; the
# browser tests where Chromium and axe-core are. The report says, once per
# reason, what was skipped.
test:
	set -o pipefail; $(GO) test -race -count=1 -json ./... | $(GO) run ./cmd/testreport

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/vaultpage ./cmd/vaultpage

tools:
	@if ! $(GOLANGCI_LINT) --version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%) "; then \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi

vet:
	$(GO) vet ./...

lint: tools
	$(GOLANGCI_LINT) run ./...

fmt-check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt wants:"; gofmt -l $$(git ls-files '*.go'); exit 1)

# Generated templ files are committed; this fails when regeneration changes
# one or makes one that git does not know.
templ-check:
	@$(GO) tool templ generate
	@if [ -n "$$(git status --porcelain -- views)" ]; then \
		echo "templ generate changed views/:"; git status --porcelain -- views; git diff -- views; exit 1; \
	fi

check: fmt-check vet lint templ-check
	$(MAKE) test

fuzz:
	for f in FuzzParseEnvelope FuzzDecodeISO0 FuzzDecipherISO4 FuzzParsePAN FuzzParseExpiry; do \
		$(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-60s} ./vault || exit 1; \
	done

bench:
	$(GO) test -run XXX -bench . -benchmem -count 6 ./vault
