//go:build !linux

package sync

import (
	"errors"
	"net"
)

func listen(*Config) (*net.UDPConn, error) {
	return nil, errors.New("connection sync needs Linux")
}
