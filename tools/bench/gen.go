package main

// The directive carries every compiler flag, so `go generate ./tools/bench`
// alone reproduces the committed objects.
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -tags linux -target bpfel -type frame_cfg bench bpf/bench.c -- -O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
