package gateway

import "errors"

// ErrClosed is returned by a Gateway used after Close.
var ErrClosed = errors.New("gateway: closed")
