package sync

import (
	"errors"
	"fmt"
	"net/netip"
)

// Defaults, as IPVS's sync daemon uses them where it has one.
var (
	// DefaultGroup is the multicast group used when no peers are given
	// (IPVS's sync daemon group).
	DefaultGroup = netip.MustParseAddr("224.0.0.81")
)

// DefaultPort is the UDP port used when Config.Port is 0.
const DefaultPort = 8848

// Config is a Syncer's configuration (config.Sync, with the key read).
type Config struct {
	// Interface carries sync traffic: the socket is bound to it and the
	// multicast group joined on it. Required for multicast.
	Interface string
	// Peers are the other directors (unicast). Empty: multicast to Group.
	Peers []netip.Addr
	// Group is the multicast group; default DefaultGroup.
	Group netip.Addr
	// Port is the UDP port, the same on every director; default
	// DefaultPort.
	Port int
	// Key authenticates every message with HMAC-SHA256; empty: none.
	// Both directors need the same key.
	Key []byte
	// MaxRate caps the entries sent per second, changes and bulk
	// transfers together; 0: no cap (bulk transfers then slow down by
	// themselves when the backup loses messages).
	MaxRate int
	// LocalAddr is the address to send from and, with unicast peers,
	// to bind; optional. With multicast the socket binds the wildcard
	// address (to receive the group) and LocalAddr picks the source.
	LocalAddr netip.Addr
}

// normalize applies defaults and checks the configuration.
func (c *Config) normalize() error {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	var errs []error
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", c.Port))
	}
	if c.MaxRate < 0 {
		errs = append(errs, fmt.Errorf("max_rate %d is negative", c.MaxRate))
	}
	var fam netip.Addr // an address whose family every other must share
	if len(c.Peers) == 0 {
		if !c.Group.IsValid() {
			c.Group = DefaultGroup
		}
		if !c.Group.IsMulticast() {
			errs = append(errs, fmt.Errorf("group %s is not a multicast address", c.Group))
		}
		if c.Interface == "" {
			errs = append(errs, errors.New("multicast sync needs an interface"))
		}
		fam = c.Group
	} else {
		fam = c.Peers[0]
		for _, p := range c.Peers {
			if !p.IsValid() || p.IsUnspecified() || p.IsMulticast() {
				errs = append(errs, fmt.Errorf("peer %s is not a unicast address", p))
			} else if p.Is4() != fam.Is4() {
				errs = append(errs, fmt.Errorf("peers %s and %s are of different families", fam, p))
			}
		}
	}
	if c.LocalAddr.IsValid() && fam.IsValid() && c.LocalAddr.Is4() != fam.Is4() {
		errs = append(errs, fmt.Errorf("local address %s and %s are of different families", c.LocalAddr, fam))
	}
	return errors.Join(errs...)
}
