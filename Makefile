# haechi — common tasks. `make test` is the README's test command.
GO ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build test lint bench fuzz run-demo

build:
	$(GO) build -o bin/haechi ./cmd/haechi

# The whole suite with the race detector. Tests needing PostgreSQL/Redis read
# HAECHI_TEST_POSTGRES_URL / HAECHI_TEST_REDIS_URL (see README).
test:
	$(GO) test -race -count=1 -timeout 20m ./...

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(STATICCHECK) ./...

# Benchmarks; figures go in issue notes as ratios against a baseline in the same run.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

# Short coverage-guided runs of every fuzz target (seeds always run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

run-demo:
	$(GO) run ./cmd/haechi serve --demo
