# xlb — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go

.PHONY: help deps generate check-generated build test test-unit lint demo bench clean

## help: list the targets
help:
	@grep -E '^## ' Makefile | sed 's/^## //'

## deps: install what building and testing need (Debian/Ubuntu, as root)
deps:
	./tools/deps.sh

## generate: rebuild the BPF object and its Go bindings (needs clang-14)
generate:
	$(GO) generate ./loader/...

## check-generated: fail if the committed BPF bindings are stale
check-generated: generate
	git diff --exit-code -- loader/

## build: build xlbd and xlbctl into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## test: the whole suite as CI runs it: deps, lint, all test tiers (root)
test:
	./tools/test.sh

## test-unit: tests that need neither root nor network namespaces
test-unit:
	$(GO) test -short -race -count=1 ./...

## lint: gofmt, go vet, clang-format of the BPF sources, no bpf_printk
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	clang-format-14 --dry-run -Werror bpf/*.c bpf/include/*.h
	@! grep -n 'bpf_printk' bpf/*.c bpf/include/*.h

## demo: build the netns lab, run xlbd in it and show it balancing (root)
demo:
	./tools/demo.sh

## bench: the benchmark harness (root): appends a run to BENCHMARKS.md
bench: deps
	$(GO) run ./tools/bench -write BENCHMARKS.md

clean:
	rm -rf bin/
