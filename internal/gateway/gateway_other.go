//go:build !linux

package gateway

import (
	"errors"
	"log/slog"
)

var errUnsupported = errors.New("gateway: nftables and sysctls need Linux")

// Option changes how New builds a Gateway.
type Option func(*options)

type options struct{ netnsFD int }

// WithNetNS selects a network namespace (Linux only).
func WithNetNS(fd int) Option { return func(o *options) { o.netnsFD = fd } }

// Gateway is Linux-only; elsewhere New fails.
type Gateway struct{}

// New fails: the gateway needs Linux.
func New(logger *slog.Logger, opts ...Option) (*Gateway, error) { return nil, errUnsupported }

// Apply fails: the gateway needs Linux.
func (g *Gateway) Apply(spec Spec) error { return errUnsupported }

// EnableForwarding fails: the gateway needs Linux.
func (g *Gateway) EnableForwarding(ifnames ...string) error { return errUnsupported }

// Remove fails: the gateway needs Linux.
func (g *Gateway) Remove() error { return errUnsupported }

// Close does nothing.
func (g *Gateway) Close() {}
