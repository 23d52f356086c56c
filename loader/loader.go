// Package loader owns xlb's BPF objects: it loads the dataplane, pins its
// maps and links under a bpffs directory so that forwarding outlives the
// daemon, attaches it to interfaces (or atomically replaces the program of
// an existing attachment) and writes services, reals and selection tables.
// No other package touches the generated bpf2go types.
package loader

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// DefaultPinDir is where maps and links are pinned unless configured.
const DefaultPinDir = "/sys/fs/bpf/xlb"

// XDPMode selects how the program is attached.
type XDPMode int

// Attach modes: native runs in the driver (veth supports it), generic in
// the kernel's receive path for drivers without XDP support.
const (
	XDPNative XDPMode = iota
	XDPGeneric
)

func (m XDPMode) flags() link.XDPAttachFlags {
	if m == XDPGeneric {
		return link.XDPGenericMode
	}
	return link.XDPDriverMode
}

// Options size and place the dataplane. Zero values take the defaults.
type Options struct {
	// PinDir is the bpffs directory for maps and links; "" pins nothing
	// (tests), and then everything goes away with Close.
	PinDir string
	// Map sizes.
	ConntrackMax, PersistenceMax, MaxServices, MaxReals uint32
	// ResetMaps replaces pinned maps whose layout or size differs instead
	// of refusing to start.
	ResetMaps bool
	// SyncEvents makes the dataplane report new connections, state
	// changes and templates for connection sync (see SyncReader).
	SyncEvents bool
}

func (o *Options) defaults() {
	if o.ConntrackMax == 0 {
		o.ConntrackMax = 262144
	}
	if o.PersistenceMax == 0 {
		o.PersistenceMax = 65536
	}
	if o.MaxServices == 0 {
		o.MaxServices = 1024
	}
	if o.MaxReals == 0 {
		o.MaxReals = 16384
	}
}

// Dataplane is the loaded XDP program and its maps.
type Dataplane struct {
	// immutable after Open
	opts       Options
	logger     *slog.Logger
	objs       xlbObjects
	statNames  map[uint64]string // enum stat_id
	stateNames map[uint64]string // enum conn_state

	mu sync.Mutex // guards everything below
	// links by interface name
	links map[string]link.Link
	// service and real id bookkeeping (service.go)
	state
	// real counters at the last GC scan (conntrack.go)
	base map[uint32]*counterBase
}

// Open loads the dataplane. With a PinDir it reuses maps pinned there by
// an earlier xlbd (tracked connections survive) and adopts its services and
// reals; maps of another layout are refused unless opts.ResetMaps.
func Open(opts Options, logger *slog.Logger) (*Dataplane, error) {
	opts.defaults()
	if opts.MaxServices > 1<<16-1 {
		return nil, fmt.Errorf("max_services %d: at most 65535", opts.MaxServices)
	}
	spec, err := loadXlb()
	if err != nil {
		return nil, fmt.Errorf("load dataplane spec: %w", err)
	}
	for name, size := range map[string]uint32{
		xlbMapConntrack:    opts.ConntrackMax,
		xlbMapPersistence:  opts.PersistenceMax,
		xlbMapServices:     opts.MaxServices,
		xlbMapSelection:    opts.MaxServices,
		xlbMapCursors:      opts.MaxServices,
		xlbMapServiceStats: opts.MaxServices,
		xlbMapReals:        opts.MaxReals,
		xlbMapRealVips:     opts.MaxReals,
		xlbMapRealStats:    opts.MaxReals,
		xlbMapRealNexthops: opts.MaxReals,
	} {
		spec.Maps[name].MaxEntries = size
	}

	if opts.SyncEvents {
		if err := spec.Variables["sync_enabled"].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("enable sync events: %w", err)
		}
	}

	var copts ebpf.CollectionOptions
	if opts.PinDir == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	} else {
		if err := ensureBPFFS(opts.PinDir); err != nil {
			return nil, err
		}
		copts.Maps.PinPath = opts.PinDir
	}

	d := &Dataplane{opts: opts, logger: logger, links: map[string]link.Link{}}
	if d.statNames, err = enumNames(spec, "stat_id", "STAT_"); err != nil {
		return nil, err
	}
	if d.stateNames, err = enumNames(spec, "conn_state", "CONN_"); err != nil {
		return nil, err
	}
	for k, v := range d.stateNames {
		d.stateNames[k] = strings.ToUpper(v)
	}
	err = spec.LoadAndAssign(&d.objs, &copts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		if !opts.ResetMaps {
			return nil, fmt.Errorf("%s: %w (%v); restart with --reset-maps to replace them, which forgets tracked connections", opts.PinDir, ErrIncompatibleMaps, err)
		}
		logger.Warn("replacing pinned maps of another layout", "pin_dir", opts.PinDir, "err", err)
		if err := removePinnedMaps(opts.PinDir, spec); err != nil {
			return nil, err
		}
		err = spec.LoadAndAssign(&d.objs, &copts)
	}
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load dataplane: %+v", ve)
		}
		return nil, fmt.Errorf("load dataplane: %w", err)
	}
	if err := d.restore(); err != nil {
		d.objs.Close()
		return nil, fmt.Errorf("adopt pinned state: %w", err)
	}
	return d, nil
}

func ensureBPFFS(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pin dir: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("pin dir %s: %w", dir, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("pin dir %s is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)", dir)
	}
	return nil
}

func removePinnedMaps(dir string, spec *ebpf.CollectionSpec) error {
	for name := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove pinned map %s: %w", name, err)
		}
	}
	return nil
}

// Close releases this process's handles. Pinned maps and links stay, and
// so does forwarding: a later Open adopts them.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Closing a pinned link's handle leaves it attached; an unpinned one
	// (tests) detaches, which is what a test wants.
	for name, l := range d.links {
		l.Close()
		delete(d.links, name)
	}
	return d.objs.Close()
}

// Remove detaches the program from every interface it is attached to,
// unpins everything and closes: the clean stop.
func (d *Dataplane) Remove() error {
	d.mu.Lock()
	var errs []error
	for name := range d.links {
		if err := d.detachLocked(name); err != nil {
			errs = append(errs, err)
		}
	}
	if dir := d.opts.PinDir; dir != "" {
		// Links pinned by an earlier run for interfaces we no longer use.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "link_") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if l, err := link.LoadPinnedLink(p, nil); err == nil {
				l.Unpin()
				l.Close()
			}
		}
		for _, m := range d.pinnedMaps() {
			if err := m.Unpin(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove pin dir: %w", err))
		}
	}
	d.mu.Unlock()
	if err := d.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (d *Dataplane) pinnedMaps() []*ebpf.Map {
	m := &d.objs.xlbMaps
	return []*ebpf.Map{m.Conntrack, m.Cursors, m.Persistence, m.RealStats, m.RealVips, m.Reals, m.Selection, m.ServiceStats, m.Services, m.Stats}
}

// Program is the XDP entry point, for tests and benchmarks (prog.Run).
func (d *Dataplane) Program() *ebpf.Program { return d.objs.XlbIngress }

func (d *Dataplane) linkPin(ifname string) string {
	return filepath.Join(d.opts.PinDir, "link_"+ifname)
}

// Attach runs the dataplane on ifname. If an earlier xlbd left a pinned
// link there, its program is replaced atomically (no packet sees a gap);
// otherwise the program is attached in the given mode and the link pinned.
func (d *Dataplane) Attach(ifname string, mode XDPMode) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("attach xdp to %s: %w", ifname, err)
	}
	if l, ok := d.links[ifname]; ok {
		if err := l.Update(d.objs.XlbIngress); err != nil {
			return fmt.Errorf("replace xdp program on %s: %w", ifname, err)
		}
		return nil
	}
	if d.opts.PinDir != "" {
		pin := d.linkPin(ifname)
		if l, err := link.LoadPinnedLink(pin, nil); err == nil {
			if info, ierr := l.Info(); ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == iface.Index {
				if err := l.Update(d.objs.XlbIngress); err != nil {
					l.Close()
					return fmt.Errorf("replace xdp program on %s: %w", ifname, err)
				}
				d.links[ifname] = l
				d.logger.Info("adopted pinned xdp link", "ifname", ifname)
				return nil
			}
			// The interface was recreated: the old link is defunct.
			l.Unpin()
			l.Close()
		}
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: d.objs.XlbIngress, Interface: iface.Index, Flags: mode.flags()})
	if err != nil {
		return fmt.Errorf("attach xdp to %s: %w", ifname, err)
	}
	if d.opts.PinDir != "" {
		if err := l.Pin(d.linkPin(ifname)); err != nil {
			l.Close()
			return fmt.Errorf("pin xdp link of %s: %w", ifname, err)
		}
	}
	d.links[ifname] = l
	return nil
}

// Detach removes the dataplane from ifname.
func (d *Dataplane) Detach(ifname string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.detachLocked(ifname)
}

func (d *Dataplane) detachLocked(ifname string) error {
	l, ok := d.links[ifname]
	if !ok {
		return nil
	}
	delete(d.links, ifname)
	if d.opts.PinDir != "" {
		if err := l.Unpin(); err != nil {
			l.Close()
			return fmt.Errorf("unpin xdp link of %s: %w", ifname, err)
		}
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("detach xdp from %s: %w", ifname, err)
	}
	return nil
}

// Attached lists the interfaces the dataplane runs on.
func (d *Dataplane) Attached() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.links))
	for n := range d.links {
		names = append(names, n)
	}
	return names
}
