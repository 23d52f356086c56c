// Package daemon is xlbd: it wires the configuration to the dataplane,
// the health checkers, the gateway rules and the control API, and keeps
// them in line on reloads.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/xlb/xlb/healthd"
	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/internal/config"
	"github.com/xlb/xlb/internal/gateway"
	"github.com/xlb/xlb/internal/notify"
	"github.com/xlb/xlb/internal/sched"
	xsync "github.com/xlb/xlb/internal/sync"
	"github.com/xlb/xlb/loader"
)

// Options are xlbd's command line.
type Options struct {
	ConfigPath string
	Logger     *slog.Logger
	LogLevel   *slog.LevelVar
	// KeepDataplane leaves programs, maps and gateway rules in place on
	// exit (an upgrade: the next xlbd adopts them).
	KeepDataplane bool
	// ResetMaps replaces pinned maps of another layout.
	ResetMaps bool
}

// Daemon is a running xlbd.
type Daemon struct {
	// immutable after Run starts
	opts    Options
	logger  *slog.Logger
	started time.Time
	dp      *loader.Dataplane
	gw      *gateway.Gateway
	health  *healthd.Monitor

	// keep is set by SIGUSR2 (or the options/config): exit without
	// removing the dataplane.
	keep atomic.Bool
	// reloads asks the reload loop for a reload; cap 1, sends never block.
	reloads chan chan error
	// runCtx is Run's context, for what a reload starts.
	runCtx context.Context
	// vrrp runs the VRRP instances.
	vrrp vrrpRunner
	// healthMaster: health checks run as on a master (ha_suspend).
	healthMaster bool
	// syncer is connection sync, nil when [sync] is off; roles wakes the
	// loop that makes it follow VRRP (cap 1).
	syncer *xsync.Syncer
	roles  chan struct{}

	mu         sync.Mutex // guards what follows
	cfg        *config.Config
	services   map[loader.ServiceKey]*service
	order      []loader.ServiceKey // configuration order
	lastReload *api.Reload
}

// LoadConfig reads and checks a configuration as `xlbd check` does:
// syntax, schema, validation and the host's interfaces.
func LoadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := config.CheckHost(cfg, linkExists); err != nil {
		return nil, err
	}
	return cfg, nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// Run runs xlbd until ctx ends or SIGTERM/SIGINT arrives.
func Run(ctx context.Context, opts Options) error {
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return err
	}
	if opts.LogLevel != nil {
		opts.LogLevel.Set(logLevel(cfg.Global.LogLevel))
	}
	d := &Daemon{
		opts:     opts,
		logger:   opts.Logger,
		started:  time.Now(),
		reloads:  make(chan chan error, 1),
		roles:    make(chan struct{}, 1),
		services: map[loader.ServiceKey]*service{},
	}
	d.keep.Store(opts.KeepDataplane || cfg.Dataplane.KeepOnExit)
	d.vrrp.d = d

	// The control socket first: a second xlbd stops here, before it
	// touches anything.
	ln, err := listenControl(cfg.Global.ControlSocket)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Global.ControlSocket)
	defer ln.Close()

	if err := d.start(cfg); err != nil {
		d.stop()
		return err
	}
	d.logger.Info("xlbd running", "config", opts.ConfigPath, "interfaces", cfg.Dataplane.Interfaces, "services", len(cfg.VirtualServers))

	ctx, cancel := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	d.runCtx = ctx
	if err := d.startSync(cfg); err != nil {
		d.stop()
		return err
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.health.Run(gctx) })
	g.Go(func() error { return d.tickLoop(gctx) })
	g.Go(func() error { return d.gcLoop(gctx) })
	g.Go(func() error { return d.reloadLoop(gctx) })
	g.Go(func() error { return d.serveAPI(gctx, ln) })
	g.Go(func() error { return d.serveMetrics(gctx, cfg.Global.MetricsListen) })
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case s := <-sigs:
				switch s {
				case syscall.SIGHUP:
					d.requestReload(nil)
				case syscall.SIGUSR2:
					d.logger.Info("SIGUSR2: exiting, leaving the dataplane running for the next xlbd")
					d.keep.Store(true)
					cancel()
				}
			}
		}
	})
	// VRRP last: with connection sync, only once the flow table came over
	// from the master (a returning director must not preempt knowing
	// nothing of the flows).
	g.Go(func() error { return d.roleLoop(gctx) })
	if d.syncer != nil {
		g.Go(func() error { return d.syncer.Run(gctx) })
		d.awaitSyncBeforeVRRP(gctx, 3*time.Second, 30*time.Second)
	}
	if err := d.vrrp.start(gctx, cfg); err != nil {
		d.logger.Error("vrrp", "err", err)
		cancel()
	}
	d.roleChanged()
	err = g.Wait()
	d.stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// listenControl opens the control socket, refusing to steal one that
// answers (another xlbd) and removing a stale one.
func listenControl(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s answers: another xlbd is running", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: remove stale %s: %w", path, err)
	}
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// start brings up the dataplane, gateway and checkers for cfg.
func (d *Daemon) start(cfg *config.Config) error {
	dp, err := loader.Open(loader.Options{
		PinDir:         cfg.Global.BPFFS,
		ConntrackMax:   uint32(cfg.Dataplane.ConntrackMax),
		PersistenceMax: uint32(cfg.Dataplane.PersistenceMax),
		MaxServices:    uint32(cfg.Dataplane.MaxServices),
		MaxReals:       uint32(cfg.Dataplane.MaxReals),
		ResetMaps:      d.opts.ResetMaps,
		SyncEvents:     cfg.Sync.Enabled,
	}, d.logger)
	if err != nil {
		return err
	}
	d.dp = dp
	gw, err := gateway.New(d.logger)
	if err != nil {
		return err
	}
	d.gw = gw
	d.health = healthd.New(healthd.Options{
		OnEvent:  d.onHealthEvent,
		Mailer:   mailer(cfg),
		RouterID: cfg.Global.RouterID,
	}, d.logger.With("component", "healthd"))
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.applyLocked(cfg)
}

func mailer(cfg *config.Config) healthd.Mailer {
	if cfg.Global.SMTPServer == "" || len(cfg.Global.NotificationEmail) == 0 {
		return nil
	}
	m, err := notify.NewMailer(notify.MailConfig{
		Server:         cfg.Global.SMTPAddress(),
		From:           cfg.Global.NotificationEmailFrom,
		To:             cfg.Global.NotificationEmail,
		HeloName:       cfg.Global.SMTPHeloName,
		ConnectTimeout: cfg.Global.SMTPConnectTimeout.Duration,
	})
	if err != nil {
		return nil
	}
	return m
}

func xdpMode(s string) loader.XDPMode {
	if s == "generic" {
		return loader.XDPGeneric
	}
	return loader.XDPNative
}

// checkReload refuses changes that need a restart, before anything is
// touched.
func checkReload(old, cfg *config.Config) error {
	var errs []error
	same := func(what string, a, b any) {
		if a != b {
			errs = append(errs, fmt.Errorf("%s changed (%v -> %v): restart xlbd to apply it", what, a, b))
		}
	}
	same("global.bpffs", old.Global.BPFFS, cfg.Global.BPFFS)
	same("global.control_socket", old.Global.ControlSocket, cfg.Global.ControlSocket)
	same("dataplane.conntrack_max", old.Dataplane.ConntrackMax, cfg.Dataplane.ConntrackMax)
	same("dataplane.persistence_max", old.Dataplane.PersistenceMax, cfg.Dataplane.PersistenceMax)
	same("dataplane.max_services", old.Dataplane.MaxServices, cfg.Dataplane.MaxServices)
	same("dataplane.max_reals", old.Dataplane.MaxReals, cfg.Dataplane.MaxReals)
	if !reflect.DeepEqual(old.Sync, cfg.Sync) {
		errs = append(errs, errors.New("sync changed: restart xlbd to apply it"))
	}
	return errors.Join(errs...)
}

// applyLocked makes the running state match cfg: interfaces, services,
// gateway rules and checkers. Everything that can be refused is checked
// before the first change.
func (d *Daemon) applyLocked(cfg *config.Config) error {
	old := d.cfg
	if old != nil {
		if err := checkReload(old, cfg); err != nil {
			return err
		}
	}
	// Build the new service states (carrying runtime state over) and
	// the checker model first: both can fail on bad input.
	next := map[loader.ServiceKey]*service{}
	var order []loader.ServiceKey
	reals := 0
	for _, vs := range cfg.VirtualServers {
		s, err := newService(vs, d.services[serviceKey(vs)])
		if err != nil {
			return err
		}
		next[s.key] = s
		order = append(order, s.key)
		reals += len(s.reals) + 1
	}
	if len(next) > cfg.Dataplane.MaxServices {
		return fmt.Errorf("%d virtual servers; dataplane.max_services is %d", len(next), cfg.Dataplane.MaxServices)
	}
	if reals > cfg.Dataplane.MaxReals {
		return fmt.Errorf("%d real servers; dataplane.max_reals is %d", reals, cfg.Dataplane.MaxReals)
	}
	hv, err := healthServices(cfg, d.healthMaster)
	if err != nil {
		return err
	}
	if err := vrrpConfig(cfg).Validate(); err != nil {
		return err
	}

	// Interfaces: attach the new ones first; on failure undo them.
	var had []string
	if old != nil {
		had = old.Dataplane.Interfaces
	}
	var attached []string
	for _, ifn := range cfg.Dataplane.Interfaces {
		if slices.Contains(had, ifn) && old.Dataplane.XDPMode == cfg.Dataplane.XDPMode {
			continue
		}
		if slices.Contains(had, ifn) {
			if err := d.dp.Detach(ifn); err != nil {
				return err
			}
		}
		if err := d.dp.Attach(ifn, xdpMode(cfg.Dataplane.XDPMode)); err != nil {
			for _, a := range attached {
				d.dp.Detach(a)
			}
			return err
		}
		attached = append(attached, ifn)
	}
	if err := d.gw.EnableForwarding(cfg.Dataplane.Interfaces...); err != nil {
		return err
	}
	for _, ifn := range had {
		if !slices.Contains(cfg.Dataplane.Interfaces, ifn) {
			if err := d.dp.Detach(ifn); err != nil {
				return err
			}
		}
	}

	// Services: removed ones stop taking connections (established ones
	// finish), new and changed ones are written with their tables.
	for key := range d.services {
		if _, ok := next[key]; !ok {
			if err := d.dp.DeleteService(key); err != nil && !errors.Is(err, loader.ErrUnknownService) {
				return err
			}
			d.logger.Info("virtual server removed", "service", key.String())
		}
	}
	// Services the dataplane had before this xlbd started but the
	// configuration no longer has.
	for _, key := range d.dp.ServiceKeys() {
		if _, ok := next[key]; !ok {
			if err := d.dp.DeleteService(key); err != nil && !errors.Is(err, loader.ErrUnknownService) {
				return err
			}
		}
	}
	d.services, d.order = next, order
	if err := d.syncServicesLocked(d.inOrder()); err != nil {
		return err
	}

	if err := d.gw.Apply(gatewaySpec(cfg)); err != nil {
		return err
	}
	if err := d.health.Set(hv); err != nil {
		return err
	}
	d.cfg = cfg
	return nil
}

func gatewaySpec(cfg *config.Config) gateway.Spec {
	spec := gateway.Spec{Forwarding: cfg.Gateway.Forwarding}
	for _, m := range cfg.Gateway.Masquerade {
		spec.Masquerade = append(spec.Masquerade, gateway.Rule{Source: m.Source, OutInterface: m.OutInterface})
	}
	for _, vs := range cfg.VirtualServers {
		if !slices.Contains(spec.ExcludeSources, vs.Address) {
			spec.ExcludeSources = append(spec.ExcludeSources, vs.Address)
		}
	}
	return spec
}

// syncServiceLocked writes a service's reals and, if it changed, its
// selection table.
func (d *Daemon) syncServiceLocked(s *service) error {
	return d.syncServicesLocked([]*service{s})
}

// syncServicesLocked writes the reals of the services an event touched
// and rebuilds their tables, and every lc/wlc table; the tables that
// changed are installed in one batch (each swap costs the kernel an RCU
// grace period, a batch one for all).
func (d *Daemon) syncServicesLocked(svcs []*service) error {
	tables := map[loader.ServiceKey][]netip.AddrPort{}
	built := map[loader.ServiceKey]*service{}
	var errs []error
	for _, s := range svcs {
		if s.dirty {
			if err := d.dp.SetService(s.loaderService(), s.dataplaneReals()); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		var counts map[netip.AddrPort]loader.ConnCounts
		newConns := 0
		if s.algo == sched.LC || s.algo == sched.WLC {
			c, err := d.dp.RealConns(s.key)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			counts = c
			if t, err := d.dp.ServiceTraffic(s.key); err == nil {
				newConns = int(t.Conns - s.lastConns)
				s.lastConns = t.Conns
			}
		} else if !s.dirty {
			continue
		}
		table, err := s.buildTable(counts, newConns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.dirty = false
		if slices.Equal(table, s.table) && s.table != nil {
			// An lc/wlc plan is read from its start: the same plan
			// again still restarts the cursor.
			if counts != nil {
				if err := d.dp.ResetCursor(s.key); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		tables[s.key] = table
		built[s.key] = s
	}
	if err := d.dp.SetTables(tables); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for key, table := range tables {
		built[key].table = table
	}
	return errors.Join(errs...)
}

// inOrder lists the services in configuration order.
func (d *Daemon) inOrder() []*service {
	out := make([]*service, 0, len(d.order))
	for _, key := range d.order {
		out = append(out, d.services[key])
	}
	return out
}

// tickLoop rebuilds lc/wlc tables from connection counts every
// scheduler_tick, and any table an event made stale.
func (d *Daemon) tickLoop(ctx context.Context) error {
	for {
		d.mu.Lock()
		tick := d.cfg.Dataplane.SchedulerTick.Duration
		if err := d.syncServicesLocked(d.inOrder()); err != nil {
			d.logger.Warn("scheduler tick", "err", err)
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tick):
		}
	}
}

// gcLoop expires connections and templates every gc_interval.
func (d *Daemon) gcLoop(ctx context.Context) error {
	for {
		d.mu.Lock()
		every := d.cfg.Dataplane.GCInterval.Duration
		t := d.cfg.Dataplane.Timeouts
		d.mu.Unlock()
		// A backup holds what its master syncs; the master's expiries
		// reach it as deletions.
		hold := d.syncer != nil && !d.syncer.Status().Master
		res, err := d.dp.GC(loader.Timeouts{TCP: t.TCP.Duration, TCPFin: t.TCPFin.Duration, TCPSyn: t.TCPSyn.Duration, UDP: t.UDP.Duration, Hold: hold})
		if err != nil {
			d.logger.Warn("connection gc", "err", err)
		} else if d.syncer != nil && !hold {
			if len(res.ExpiredFlows) > 0 {
				d.syncer.Expired(res.ExpiredFlows)
			}
			if len(res.DroppedTemplates) > 0 {
				d.syncer.ExpiredTemplates(res.DroppedTemplates)
			}
		}
		if err == nil && (res.Expired > 0 || res.ExpiredTemplates > 0) {
			d.logger.Debug("connection gc", "conns", res.Conns, "expired", res.Expired, "templates", res.Templates, "expired_templates", res.ExpiredTemplates)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// requestReload queues a reload; done (if not nil) gets its outcome.
// Reloads asked while one is queued are merged into it.
func (d *Daemon) requestReload(done chan error) {
	select {
	case d.reloads <- done:
	default:
		if done != nil {
			done <- errors.New("a reload is already queued")
		}
	}
}

func (d *Daemon) reloadLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case done := <-d.reloads:
			err := d.Reload()
			if done != nil {
				done <- err
			}
		}
	}
}

// Reload reads the configuration file again and applies the difference.
// A configuration that fails to load, validate or apply is rejected and
// the running state is left as it was.
func (d *Daemon) Reload() error {
	cfg, err := LoadConfig(d.opts.ConfigPath)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		err = d.applyLocked(cfg)
	}
	if err == nil {
		err = d.vrrp.reload(d.runCtx, cfg)
	}
	d.lastReload = &api.Reload{At: time.Now(), OK: err == nil}
	if err != nil {
		d.lastReload.Error = err.Error()
		d.logger.Error("reload rejected; running configuration unchanged", "config", d.opts.ConfigPath, "err", err)
		return err
	}
	if d.opts.LogLevel != nil {
		d.opts.LogLevel.Set(logLevel(cfg.Global.LogLevel))
	}
	d.logger.Info("configuration reloaded", "config", d.opts.ConfigPath, "services", len(cfg.VirtualServers))
	return nil
}

// setHealthRole re-arms the health checks for this director's role, if
// any virtual server suspends its checks on a backup.
func (d *Daemon) setHealthRole(master bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.healthMaster == master {
		return
	}
	d.healthMaster = master
	suspends := false
	for _, vs := range d.cfg.VirtualServers {
		suspends = suspends || vs.HASuspend
	}
	if !suspends {
		return
	}
	hv, err := healthServices(d.cfg, master)
	if err == nil {
		err = d.health.Set(hv)
	}
	if err != nil {
		d.logger.Warn("health checks for the new role", "err", err)
	}
}

// onHealthEvent applies a checker verdict to the dataplane at once: a
// failed real takes no new connection from the moment it is declared down.
func (d *Daemon) onHealthEvent(ev healthd.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() {
		var dirty []*service
		for _, s := range d.inOrder() {
			if s.dirty {
				dirty = append(dirty, s)
			}
		}
		if err := d.syncServicesLocked(dirty); err != nil {
			d.logger.Warn("apply health event", "err", err)
		}
	}()
	switch e := ev.(type) {
	case healthd.RealEvent:
		for _, key := range d.order {
			s := d.services[key]
			if key.String() != e.Service {
				continue
			}
			for _, r := range s.reals {
				if r.addr.String() == e.Real {
					r.up, r.reason = e.Up, e.Reason
					r.healthWeight = e.Weight
					if !e.Up {
						r.healthWeight = -1
					}
					s.dirty = true
				}
			}
		}
	case healthd.QuorumEvent:
		for _, key := range d.order {
			if key.String() == e.Service {
				d.services[key].quorum = e.Up
				d.services[key].dirty = true
			}
		}
	}
}

// stop tears down what start built: all of it on a clean stop, only this
// process's handles when the dataplane is kept.
func (d *Daemon) stop() {
	// VRRP first: a master hands over (priority 0) and its VIPs go before
	// the dataplane does.
	d.vrrp.stop()
	if d.syncer != nil {
		d.syncer.Close()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := d.keep.Load()
	if d.dp != nil {
		var err error
		if keep {
			err = d.dp.Close()
			d.logger.Info("dataplane left running", "pin_dir", d.cfg.Global.BPFFS)
		} else {
			err = d.dp.Remove()
		}
		if err != nil {
			d.logger.Warn("stop dataplane", "err", err)
		}
	}
	if d.gw != nil {
		if !keep {
			if err := d.gw.Remove(); err != nil {
				d.logger.Warn("remove gateway rules", "err", err)
			}
		}
		d.gw.Close()
	}
}

func (d *Daemon) serveAPI(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: d.apiHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("control api: %w", err)
	}
	return nil
}
