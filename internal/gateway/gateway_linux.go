package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Option changes how New builds a Gateway.
type Option func(*options)

type options struct {
	netnsFD int
}

// WithNetNS makes the Gateway work in the network namespace the file
// descriptor fd refers to, instead of the current one. New duplicates fd;
// the caller keeps and closes its own.
func WithNetNS(fd int) Option {
	return func(o *options) { o.netnsFD = fd }
}

// Gateway owns table inet xlb and the forwarding sysctls of one network
// namespace.
type Gateway struct {
	// Immutable after New.
	logger  *slog.Logger
	nsFD    int // a duplicate of the WithNetNS fd; -1 for the current namespace
	procSys string

	mu sync.Mutex // guards everything below
	// saved holds, per sysctl key (path under /proc/sys) that xlb has
	// changed or claimed, the value to restore.
	saved map[string]string
	// ifaces are the dataplane interfaces of the last EnableForwarding,
	// sorted.
	ifaces []string
	closed bool
	// beforeFlush, when set by a test, adds to Apply's batch just before
	// it is sent.
	beforeFlush func(*nftables.Conn)
}

// New returns a Gateway for the current network namespace, or the one
// WithNetNS names. It changes nothing; it checks that nftables answers.
func New(logger *slog.Logger, opts ...Option) (*Gateway, error) {
	o := options{netnsFD: -1}
	for _, opt := range opts {
		opt(&o)
	}
	g := &Gateway{logger: logger, nsFD: -1, procSys: "/proc/sys", saved: map[string]string{}}
	if o.netnsFD >= 0 {
		fd, err := unix.FcntlInt(uintptr(o.netnsFD), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("gateway: duplicate netns fd %d: %w", o.netnsFD, err)
		}
		g.nsFD = fd
	}
	c, err := g.conn()
	if err == nil {
		_, err = c.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("gateway: nftables: %w", err)
	}
	return g, nil
}

// Close releases the Gateway's resources. It leaves the table and the
// sysctls as they are (call Remove first for a clean stop), so that
// traffic keeps flowing across an in-place upgrade.
func (g *Gateway) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	if g.nsFD >= 0 {
		unix.Close(g.nsFD)
	}
}

// Apply makes table inet xlb and the forwarding sysctls match spec. The
// table is replaced whole in one nftables transaction: applying the same
// spec again changes nothing, and if the kernel refuses the batch the old
// table stays. Forwarding (IPv4, and IPv6 when a rule has an IPv6 source)
// is switched off before the table changes and on after, so no packet is
// forwarded without the rules meant for it. The spec and its interfaces
// are checked before anything changes; an error after that leaves
// forwarding off where spec turns it off.
func (g *Gateway) Apply(spec Spec) error {
	rules, ex4, ex6, err := spec.normalized()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if err := g.inNS(func() error { return checkInterfaces(rules) }); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	want := map[string]bool{
		keyIPForward:  spec.Forwarding,
		keyIP6Forward: spec.Forwarding && wantsIPv6(rules),
	}
	if err := g.setForwarding(want, false); err != nil {
		return err
	}
	if err := g.replaceTable(rules, ex4, ex6); err != nil {
		return err
	}
	if err := g.setForwarding(want, true); err != nil {
		return err
	}
	g.logger.Info("gateway applied", "forwarding", spec.Forwarding, "masquerade_rules", len(rules),
		"excluded_sources", len(ex4)+len(ex6))
	return nil
}

// checkInterfaces checks that every rule's interface exists: a rule on a
// missing interface would never match, and silently so.
func checkInterfaces(rules []Rule) error {
	if len(rules) == 0 {
		return nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for i, r := range rules {
		if !slices.ContainsFunc(ifs, func(ifc net.Interface) bool { return ifc.Name == r.OutInterface }) {
			return fmt.Errorf("masquerade[%d]: interface %s does not exist", i, r.OutInterface)
		}
	}
	return nil
}

func (g *Gateway) replaceTable(rules []Rule, ex4, ex6 []netip.Addr) error {
	c, err := g.conn()
	if err != nil {
		return fmt.Errorf("gateway: nftables: %w", err)
	}
	queueDelete(c)
	if err := queueTable(c, rules, ex4, ex6); err != nil {
		return fmt.Errorf("gateway: build table inet %s: %w", tableName, err)
	}
	if g.beforeFlush != nil {
		g.beforeFlush(c)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("gateway: replace table inet %s: %w", tableName, err)
	}
	return nil
}

// setForwarding lowers the global forwarding keys want has off, or raises
// those it has on: Apply lowers before the table changes and raises after,
// so that nothing is forwarded without the rules meant to go with it.
func (g *Gateway) setForwarding(want map[string]bool, on bool) error {
	err := g.inNS(func() error {
		var errs []error
		for _, key := range []string{keyIPForward, keyIP6Forward} {
			switch {
			case want[key] && on:
				errs = append(errs, g.raise(key))
			case !want[key] && !on:
				errs = append(errs, g.lower(key))
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("gateway: forwarding: %w", err)
	}
	return nil
}

// EnableForwarding makes ifnames the dataplane's interfaces: each gets
// net.ipv4.conf.<if>.forwarding=1 (bpf_fib_lookup will not forward from
// an interface without it) and net.ipv4.conf.<if>.accept_local=1 (a reply
// the dataplane rewrote to come from a VIP, a local address, and passed to
// the kernel to resolve the next hop is forwarded instead of dropped as a
// martian). Interfaces named by an earlier call and not by this one get
// their previous values back; Remove restores them all.
func (g *Gateway) EnableForwarding(ifnames ...string) error {
	want := slices.Clone(ifnames)
	for _, name := range want {
		if err := checkIfName(name); err != nil {
			return fmt.Errorf("gateway: enable forwarding: %w", err)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	err := g.inNS(func() error {
		var errs []error
		for _, name := range g.ifaces {
			if !slices.Contains(want, name) {
				errs = append(errs, g.release(name))
			}
		}
		for _, name := range want {
			errs = append(errs, g.claim(name))
		}
		return errors.Join(errs...)
	})
	g.ifaces = want
	if err != nil {
		return fmt.Errorf("gateway: enable forwarding: %w", err)
	}
	return nil
}

// Remove deletes table inet xlb, if present, and restores every sysctl
// xlb changed. Forwarding goes off before the rules go.
func (g *Gateway) Remove() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	var errs []error
	if err := g.inNS(g.restoreAll); err != nil {
		errs = append(errs, fmt.Errorf("gateway: restore sysctls: %w", err))
	}
	g.ifaces = nil
	c, err := g.conn()
	if err == nil {
		queueDelete(c)
		err = c.Flush()
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("gateway: delete table inet %s: %w", tableName, err))
	} else {
		g.logger.Info("gateway removed")
	}
	return errors.Join(errs...)
}

func (g *Gateway) conn() (*nftables.Conn, error) {
	if g.nsFD >= 0 {
		return nftables.New(nftables.WithNetNSFd(g.nsFD))
	}
	return nftables.New()
}

// inNS runs fn in the Gateway's namespace: directly for the current one,
// else on a fresh OS thread switched into it. That thread is never
// unlocked, so it ends with its goroutine and the switch cannot leak.
func (g *Gateway) inNS(fn func() error) error {
	if g.nsFD < 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(g.nsFD, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
