//go:build !linux

package vrrp

import "errors"

func openHost(string) (host, error) {
	return nil, errors.New("vrrp: only supported on Linux")
}
