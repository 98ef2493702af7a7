# vaultpage. `make test` is what CI runs; `make check` is what to run before a push.
GO        ?= go
LINT      ?= golangci-lint

.PHONY: run test check lint vet templ-check fuzz bench build

run:
	$(GO) run ./cmd/vaultpage serve

# PostgreSQL tests run when VAULTPAGE_TEST_DATABASE_URL is set (CI sets it and
# PG_REQUIRED=1); the SoftHSM2 test runs where softhsm2 is installed.
test:
	$(GO) test -race -count=1 ./...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/vaultpage ./cmd/vaultpage

vet:
	$(GO) vet ./...

lint:
	$(LINT) run ./...

# Generated templ files are committed; this fails when they are stale.
templ-check:
	@if ls views/*.templ >/dev/null 2>&1; then \
		$(GO) tool templ generate && git diff --exit-code -- views; \
	fi

check: lint vet templ-check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(MAKE) test

fuzz:
	for f in FuzzParseEnvelope FuzzDecodeISO0 FuzzDecipherISO4 FuzzParsePAN FuzzParseExpiry; do \
		$(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-60s} ./vault || exit 1; \
	done

bench:
	$(GO) test -run XXX -bench . -benchmem -count 6 ./vault
