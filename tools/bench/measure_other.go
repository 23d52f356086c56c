//go:build !linux

package main

import (
	"context"
	"errors"
	"log/slog"
)

func measure(context.Context, config, *slog.Logger, []string) (*results, error) {
	return nil, errors.New("the benchmarks need Linux (XDP, network namespaces)")
}
