package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Sysctl keys, as paths under /proc/sys.
const (
	keyIPForward  = "net/ipv4/ip_forward"
	keyIP6Forward = "net/ipv6/conf/all/forwarding"
)

func keyIfForward(ifname string) string     { return "net/ipv4/conf/" + ifname + "/forwarding" }
func keyIfAcceptLocal(ifname string) string { return "net/ipv4/conf/" + ifname + "/accept_local" }

// ifForwardName returns the interface of a net.ipv4.conf.<if>.forwarding
// key.
func ifForwardName(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "net/ipv4/conf/")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "/forwarding")
}

// sysctlName spells a key the way sysctl(8) does: dots between levels, a
// dot inside an interface name as a slash (net.ipv4.conf.eth0/100.forwarding).
func sysctlName(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, ".", "/")
	}
	return strings.Join(parts, ".")
}

// The methods below run inside the Gateway's namespace (through inNS) with
// g.mu held.
//
// The kernel couples the keys: writing net.ipv4.ip_forward (on a change)
// sets every interface's net.ipv4.conf.<if>.forwarding to the same value.
// The bookkeeping follows from that:
//   - g.saved holds, per key xlb changed or claimed, the value to put back.
//   - Global keys are recorded only when xlb changes them.
//   - Interface keys are recorded when EnableForwarding claims them. An
//     interface's forwarding value from before xlb raised ip_forward is
//     gone (the kernel overwrote it), so one claimed while xlb holds
//     ip_forward up gets ip_forward's previous value, which is what the
//     kernel gives it back when ip_forward is restored anyway.
//   - Restoring ip_forward resets every interface, so the dataplane
//     interfaces are turned back on right after.
//   - Remove restores the global keys first, then the interface keys.

func (g *Gateway) readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(g.procSys, key))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", sysctlName(key), err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (g *Gateway) writeSysctl(key, value string) error {
	f, err := os.OpenFile(filepath.Join(g.procSys, key), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write sysctl %s=%s: %w", sysctlName(key), value, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write sysctl %s=%s: %w", sysctlName(key), value, err)
	}
	return nil
}

// raise sets a global key to 1, remembering the old value if it changes it.
func (g *Gateway) raise(key string) error {
	cur, err := g.readSysctl(key)
	if err != nil {
		return err
	}
	if cur == "1" {
		return nil
	}
	if _, ok := g.saved[key]; !ok {
		g.saved[key] = cur
	}
	if err := g.writeSysctl(key, "1"); err != nil {
		return err
	}
	g.logger.Info("sysctl set", "key", sysctlName(key), "value", "1", "previous", cur)
	return nil
}

// lower puts a global key back to what it was before raise changed it.
func (g *Gateway) lower(key string) error {
	if _, ok := g.saved[key]; !ok {
		return nil
	}
	if err := g.restore(key); err != nil {
		return err
	}
	if key != keyIPForward {
		return nil
	}
	// The kernel has just set every interface's forwarding to the
	// restored value: turn the dataplane interfaces back on, and settle
	// the interfaces released while ip_forward was up.
	var errs []error
	for _, k := range g.savedKeys() {
		ifname, ok := ifForwardName(k)
		if !ok {
			continue
		}
		if slices.Contains(g.ifaces, ifname) {
			if err := g.set1(k); errors.Is(err, fs.ErrNotExist) {
				g.logger.Warn("dataplane interface is gone", "ifname", ifname)
			} else {
				errs = append(errs, err)
			}
		} else {
			errs = append(errs, g.restore(k))
		}
	}
	return errors.Join(errs...)
}

// restore writes a key's saved value back and forgets it. An interface
// that is gone has nothing left to restore.
func (g *Gateway) restore(key string) error {
	orig := g.saved[key]
	cur, err := g.readSysctl(key)
	if errors.Is(err, fs.ErrNotExist) {
		delete(g.saved, key)
		g.logger.Debug("sysctl gone, nothing to restore", "key", sysctlName(key))
		return nil
	}
	if err != nil {
		return err
	}
	if cur != orig {
		if err := g.writeSysctl(key, orig); err != nil {
			return err
		}
		g.logger.Info("sysctl restored", "key", sysctlName(key), "value", orig, "previous", cur)
	}
	delete(g.saved, key)
	return nil
}

// set1 makes a recorded key 1 again.
func (g *Gateway) set1(key string) error {
	cur, err := g.readSysctl(key)
	if err != nil {
		return err
	}
	if cur == "1" {
		return nil
	}
	if err := g.writeSysctl(key, "1"); err != nil {
		return err
	}
	g.logger.Info("sysctl set", "key", sysctlName(key), "value", "1", "previous", cur)
	return nil
}

// claim turns on forwarding and accept_local for a dataplane interface.
func (g *Gateway) claim(ifname string) error {
	for _, key := range []string{keyIfForward(ifname), keyIfAcceptLocal(ifname)} {
		cur, err := g.readSysctl(key)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("interface %s: no such interface with IPv4 enabled (no %s)", ifname, sysctlName(key))
		}
		if err != nil {
			return fmt.Errorf("interface %s: %w", ifname, err)
		}
		if _, ok := g.saved[key]; !ok {
			orig := cur
			if prev, up := g.saved[keyIPForward]; up && key == keyIfForward(ifname) {
				orig = prev
			}
			g.saved[key] = orig
		}
		if err := g.set1(key); err != nil {
			return fmt.Errorf("interface %s: %w", ifname, err)
		}
	}
	return nil
}

// release gives an interface that is no longer a dataplane interface its
// values back. Its forwarding stays on while xlb holds ip_forward up (the
// kernel would have it on), and is settled when ip_forward comes down.
func (g *Gateway) release(ifname string) error {
	errs := []error{g.restore(keyIfAcceptLocal(ifname))}
	key := keyIfForward(ifname)
	if _, up := g.saved[keyIPForward]; up {
		if err := g.set1(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	} else if _, ok := g.saved[key]; ok {
		errs = append(errs, g.restore(key))
	}
	return errors.Join(errs...)
}

// restoreAll puts back every key xlb changed: global keys first, since
// restoring ip_forward rewrites every interface's forwarding.
func (g *Gateway) restoreAll() error {
	var errs []error
	for _, key := range []string{keyIP6Forward, keyIPForward} {
		if _, ok := g.saved[key]; ok {
			errs = append(errs, g.restore(key))
		}
	}
	for _, key := range g.savedKeys() {
		errs = append(errs, g.restore(key))
	}
	return errors.Join(errs...)
}

func (g *Gateway) savedKeys() []string {
	keys := make([]string, 0, len(g.saved))
	for k := range g.saved {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
