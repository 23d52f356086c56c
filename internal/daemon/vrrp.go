package daemon

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xlb/xlb/healthd"
	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/internal/config"
	"github.com/xlb/xlb/internal/notify"
	"github.com/xlb/xlb/vrrp"
)

// vrrpConfig translates the configuration's instances and sync groups.
func vrrpConfig(cfg *config.Config) vrrp.Config {
	var vc vrrp.Config
	for _, in := range cfg.VRRPInstances {
		ic := vrrp.InstanceConfig{
			Name:                    in.Name,
			Interface:               in.Interface,
			VRID:                    uint8(in.VirtualRouterID),
			Priority:                uint8(in.Priority),
			AdvertInt:               in.AdvertInt.Duration,
			Version:                 in.Version,
			InitialState:            vrrp.StateBackup,
			UnicastSrc:              in.UnicastSrcIP,
			UnicastPeers:            in.UnicastPeer,
			Preempt:                 !in.NoPreempt,
			PreemptDelay:            in.PreemptDelay.Duration,
			Accept:                  in.Accept,
			GARPMasterDelay:         in.GARPMasterDelay.Duration,
			GARPMasterRepeat:        in.GARPMasterRepeat,
			GARPMasterRefresh:       in.GARPMasterRefresh.Duration,
			GARPMasterRefreshRepeat: in.GARPMasterRefreshRepeat,
		}
		if strings.EqualFold(in.State, "MASTER") {
			ic.InitialState = vrrp.StateMaster
		}
		if strings.EqualFold(in.Authentication.AuthType, "PASS") {
			ic.AuthPass = in.Authentication.AuthPass
		}
		for _, v := range in.VirtualIPAddress {
			ic.VIPs = append(ic.VIPs, vrrpVIP(v))
		}
		for _, v := range in.VirtualIPAddressExcluded {
			ic.ExcludedVIPs = append(ic.ExcludedVIPs, vrrpVIP(v))
		}
		for _, t := range in.TrackInterface {
			ic.TrackInterfaces = append(ic.TrackInterfaces, vrrp.Track{Name: t.Name, Weight: t.Weight})
		}
		vc.Instances = append(vc.Instances, ic)
	}
	for _, g := range cfg.VRRPSyncGroups {
		vc.SyncGroups = append(vc.SyncGroups, vrrp.SyncGroup{Name: g.Name, Instances: g.Group})
	}
	return vc
}

func vrrpVIP(v config.VIP) vrrp.VIP {
	return vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Scope: v.Scope, Broadcast: v.Broadcast}
}

// vrrpPart is what a reload compares to decide whether VRRP restarts.
type vrrpPart struct {
	Instances  []config.VRRPInstance
	SyncGroups []config.VRRPSyncGroup
	Scripts    []config.VRRPScript
	TrackFiles []config.TrackFile // those instances track
}

func vrrpPartOf(cfg *config.Config) vrrpPart {
	return vrrpPart{cfg.VRRPInstances, cfg.VRRPSyncGroups, cfg.VRRPScripts, vrrpTrackFiles(cfg)}
}

// vrrpTrackFiles lists the [[track_file]]s some vrrp_instance tracks.
func vrrpTrackFiles(cfg *config.Config) []config.TrackFile {
	var out []config.TrackFile
	for _, tf := range cfg.TrackFiles {
		if slices.ContainsFunc(cfg.VRRPInstances, func(in config.VRRPInstance) bool {
			return slices.ContainsFunc(in.TrackFile, func(t config.TrackFileRef) bool { return t.Name == tf.Name })
		}) {
			out = append(out, tf)
		}
	}
	return out
}

// vrrpRunner runs the VRRP node of the current configuration and its
// track scripts, and restarts them when a reload changes them.
type vrrpRunner struct {
	d *Daemon

	mu     sync.Mutex // guards what follows
	part   vrrpPart
	node   *vrrp.Node
	cancel context.CancelFunc
	done   chan struct{}
	states map[string]vrrp.State // instance -> state

	initOnce sync.Once
	initDone map[string]bool // track files initialised (init_file) by this process
}

// start runs a node for cfg (if it has instances) under ctx.
func (r *vrrpRunner) start(ctx context.Context, cfg *config.Config) error {
	part := vrrpPartOf(cfg)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.part = part
	r.states = map[string]vrrp.State{}
	if len(cfg.VRRPInstances) == 0 {
		return nil
	}
	vc := vrrpConfig(cfg)
	vc.OnState = func(name string, from, to vrrp.State) { r.d.onVRRPState(cfg, name, from, to) }
	vc.OnGroupState = func(name string, from, to vrrp.State) { r.d.onVRRPGroupState(cfg, name, from, to) }
	node, err := vrrp.New(vc, r.d.logger.With("component", "vrrp"))
	if err != nil {
		return err
	}
	// Track files are read once before the node starts, so that an
	// instance whose file says FAULT starts in FAULT instead of flapping.
	var files []*trackedFile
	for _, tf := range vrrpTrackFiles(cfg) {
		f := r.trackFile(cfg, tf)
		f.apply(node)
		files = append(files, f)
	}
	nctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.node, r.cancel, r.done = node, cancel, done
	for _, f := range files {
		go f.run(nctx, node)
	}
	go func() {
		defer close(done)
		if err := node.Run(nctx); err != nil {
			r.d.logger.Error("vrrp stopped", "err", err)
		}
	}()
	for _, sc := range cfg.VRRPScripts {
		go r.runScript(nctx, node, cfg, sc)
	}
	return nil
}

// stop hands over (priority 0) and removes the VIPs.
func (r *vrrpRunner) stop() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.node, r.cancel, r.done = nil, nil, nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// reload restarts VRRP if its part of the configuration changed.
func (r *vrrpRunner) reload(ctx context.Context, cfg *config.Config) error {
	r.mu.Lock()
	same := reflect.DeepEqual(r.part, vrrpPartOf(cfg))
	r.mu.Unlock()
	if same {
		return nil
	}
	if err := vrrpConfig(cfg).Validate(); err != nil {
		return err
	}
	r.d.logger.Info("vrrp configuration changed: restarting vrrp")
	r.stop()
	return r.start(ctx, cfg)
}

// status lists the instances' states; configured instances VRRP has not
// started yet (it waits for connection sync) show as INIT.
func (r *vrrpRunner) status(cfg *config.Config) []api.Instance {
	r.mu.Lock()
	node := r.node
	r.mu.Unlock()
	if node == nil {
		var out []api.Instance
		for _, in := range cfg.VRRPInstances {
			out = append(out, api.Instance{Name: in.Name, State: vrrp.StateInit.String(), Priority: in.Priority})
		}
		return out
	}
	var out []api.Instance
	for _, in := range node.Status().Instances {
		ai := api.Instance{Name: in.Name, State: in.State.String(), Priority: int(in.Priority)}
		if in.MasterAddr.IsValid() {
			ai.Master = in.MasterAddr.String()
		}
		out = append(out, ai)
	}
	return out
}

// runScript runs a vrrp_script every interval and tells the instances
// that track it, after rise successes or fall failures in a row.
func (r *vrrpRunner) runScript(ctx context.Context, node *vrrp.Node, cfg *config.Config, sc config.VRRPScript) {
	cmd, err := notify.Script{Line: sc.Script, User: sc.User, Timeout: sc.Timeout.Duration}.Compile()
	if err != nil {
		r.d.logger.Error("vrrp_script", "script", sc.Name, "err", err)
		return
	}
	type tracker struct {
		instance string
		weight   int
	}
	var trackers []tracker
	for _, in := range cfg.VRRPInstances {
		for _, ts := range in.TrackScript {
			if ts.Name == sc.Name {
				trackers = append(trackers, tracker{in.Name, ts.Weight})
			}
		}
	}
	if len(trackers) == 0 {
		return
	}
	// The first result is reported at once; after that a change needs
	// rise successes or fall failures in a row.
	ok, known, streak := false, false, 0
	for {
		err := cmd.RunChecked(ctx)
		if ctx.Err() != nil {
			return
		}
		pass := err == nil
		if known && pass == ok {
			streak = 0
		} else {
			streak++
		}
		need := sc.Rise
		if ok {
			need = sc.Fall
		}
		if !known || streak >= need {
			ok, known, streak = pass, true, 0
			r.d.logger.Info("vrrp_script state", "script", sc.Name, "ok", ok, "err", err)
			for _, t := range trackers {
				if err := node.SetTrackScript(t.instance, sc.Name, ok, t.weight); err != nil {
					r.d.logger.Warn("track_script", "script", sc.Name, "instance", t.instance, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(sc.Interval.Duration):
		}
	}
}

// trackedFile is a [[track_file]] that vrrp_instances track: the number
// in it, times each instance's weight, moves the instance's priority.
type trackedFile struct {
	r        *vrrpRunner
	tf       config.TrackFile
	trackers []config.TrackFileRef // per instance, Name = the instance
	value    int64
	applied  bool
}

func (r *vrrpRunner) trackFile(cfg *config.Config, tf config.TrackFile) *trackedFile {
	f := &trackedFile{r: r, tf: tf}
	for _, in := range cfg.VRRPInstances {
		for _, t := range in.TrackFile {
			if t.Name == tf.Name {
				t.Name = in.Name
				f.trackers = append(f.trackers, t)
			}
		}
	}
	if tf.InitFile {
		r.initOnce.Do(func() { r.initDone = map[string]bool{} })
		first := !r.initDone[tf.File]
		r.initDone[tf.File] = true
		if err := healthd.InitTrackFile(tf.File, tf.InitValue, tf.InitOverwrite, first); err != nil {
			r.d.logger.Warn("track_file", "name", tf.Name, "err", err)
		}
	}
	return f
}

// trackFileState is keepalived's rule for an instance tracking a file
// holding v: with weight 0, a non-zero number (zero with reverse) is a
// fault; otherwise v × weight (negated with reverse) is added to the
// priority, and -254 or less is a fault. In the node's terms: ok and the
// weight of a tracked script.
func trackFileState(v int64, weight int, reverse bool) (ok bool, w int) {
	if weight == 0 {
		return (v != 0) == reverse, 0
	}
	m := int64(weight)
	if reverse {
		m = -m
	}
	switch c := v * m; { // |v| ≤ 2^31, |m| ≤ 254: no overflow
	case c <= -254:
		return false, 0
	case c > 0:
		return true, int(min(c, 254))
	default:
		return c == 0, int(c)
	}
}

// apply reads the file and tells the node when the number changed.
func (f *trackedFile) apply(node *vrrp.Node) {
	v, ok := healthd.ReadTrackFile(f.tf.File)
	if !ok {
		v = f.value // out of range: keepalived keeps the last value
	}
	if f.applied && v == f.value {
		return
	}
	f.value, f.applied = v, true
	f.r.d.logger.Info("track_file value", "name", f.tf.Name, "file", f.tf.File, "value", v)
	for _, t := range f.trackers {
		ok, w := trackFileState(v, t.Weight, t.Reverse)
		if err := node.SetTrackScript(t.Name, "file:"+f.tf.Name, ok, w); err != nil {
			f.r.d.logger.Warn("track_file", "name", f.tf.Name, "instance", t.Name, "err", err)
		}
	}
}

// run re-reads the file every second (keepalived watches it with
// inotify; a second is the same order as a VRRP advertisement interval).
func (f *trackedFile) run(ctx context.Context, node *vrrp.Node) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.apply(node)
		}
	}
}

// onVRRPState follows an instance's state: the dataplane's role, then
// the operator's notify scripts and mail (never blocking VRRP).
func (d *Daemon) onVRRPState(cfg *config.Config, name string, from, to vrrp.State) {
	d.logger.Info("vrrp instance state", "instance", name, "from", from.String(), "to", to.String())
	d.vrrp.mu.Lock()
	d.vrrp.states[name] = to
	d.vrrp.mu.Unlock()
	d.roleChanged()
	for _, in := range cfg.VRRPInstances {
		if in.Name == name {
			d.notifyState(cfg, "INSTANCE", name, to, in.Priority, in.NotifyScripts)
		}
	}
}

func (d *Daemon) onVRRPGroupState(cfg *config.Config, name string, from, to vrrp.State) {
	d.logger.Info("vrrp sync group state", "group", name, "from", from.String(), "to", to.String())
	for _, g := range cfg.VRRPSyncGroups {
		if g.Name == name {
			d.notifyState(cfg, "GROUP", name, to, 0, g.NotifyScripts)
		}
	}
}

// isMaster reports whether this director is master: of every configured
// VRRP instance, or always when there is none. Before VRRP has started, a
// director with instances is not master.
func (d *Daemon) isMaster() bool {
	d.mu.Lock()
	var names []string
	for _, in := range d.cfg.VRRPInstances {
		names = append(names, in.Name)
	}
	d.mu.Unlock()
	if len(names) == 0 {
		return true
	}
	d.vrrp.mu.Lock()
	defer d.vrrp.mu.Unlock()
	for _, n := range names {
		if d.vrrp.states[n] != vrrp.StateMaster {
			return false
		}
	}
	return true
}

// notifyState runs keepalived's notify_* scripts and smtp_alert.
func (d *Daemon) notifyState(cfg *config.Config, kind, name string, to vrrp.State, prio int, ns config.NotifyScripts) {
	state := strings.ToUpper(to.String())
	var script string
	switch to {
	case vrrp.StateMaster:
		script = ns.NotifyMaster
	case vrrp.StateBackup:
		script = ns.NotifyBackup
	case vrrp.StateFault:
		script = ns.NotifyFault
	case vrrp.StateInit:
		script, state = ns.NotifyStop, "STOP"
	}
	run := func(line string, args ...string) {
		if line == "" {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), notify.DefaultTimeout)
			defer cancel()
			if err := notify.RunScript(ctx, line, args...); err != nil {
				d.logger.Warn("notify script failed", "script", line, "err", err)
			}
		}()
	}
	run(script)
	run(ns.Notify, kind, name, state, strconv.Itoa(prio))
	if ns.SMTPAlert {
		if m := mailer(cfg); m != nil {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				subj := fmt.Sprintf("[%s] VRRP %s %s is now %s", cfg.Global.RouterID, strings.ToLower(kind), name, state)
				if err := m.Send(ctx, subj, subj+"\n"); err != nil {
					d.logger.Warn("smtp alert failed", "err", err)
				}
			}()
		}
	}
}
