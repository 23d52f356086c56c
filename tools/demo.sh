#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the demo lab: installs the
# build dependencies (Debian apt), builds xlbd and xlbctl, builds the seed's
# network in namespaces and shows xlb balancing real HTTP. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/deps.sh
go build -o bin/ ./cmd/...
go run ./tools/lab demo --bin bin
