#!/usr/bin/env bash
# Runs the whole test suite, as CI does: installs what it needs (Debian apt),
# checks formatting, vet, BPF sources and generated bindings, then runs every
# test tier (unit, BPF_PROG_TEST_RUN, network-namespace end-to-end, interop
# with keepalived). Needs root for all but the unit tier.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/deps.sh

echo "== lint"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
clang-format-14 --dry-run -Werror bpf/*.c bpf/include/*.h
if grep -n 'bpf_printk' bpf/*.c bpf/include/*.h; then
	echo "bpf_printk left in the dataplane"; exit 1
fi

echo "== tests"
# TestGeneratedUpToDate (loader) rebuilds the BPF object and fails if the
# committed one is stale.
CI=${CI:-1} go test -race -count=1 -timeout 25m "$@" ./...
