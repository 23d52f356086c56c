package daemon

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/xlb/xlb/healthd"
	"github.com/xlb/xlb/internal/config"
	"github.com/xlb/xlb/internal/sched"
	"github.com/xlb/xlb/loader"
)

// service is a virtual service's runtime state. Guarded by Daemon.mu.
type service struct {
	cfg   config.VirtualServer
	key   loader.ServiceKey
	algo  sched.Algo
	reals []*real // configuration order (IPVS walks its list in order)
	sorry *real   // sorry_server, nil if none
	// quorum is healthd's verdict; without quorum the sorry server serves.
	quorum bool
	// dirty asks the next tick to rewrite the reals and the table.
	dirty bool
	// table as last installed, to skip identical rewrites.
	table []netip.AddrPort
	// lastConns is the service's connection counter at the last tick, for
	// the lc/wlc arrival estimate.
	lastConns uint64
	// lastEnded is each real's ended-connections counter at the last tick.
	lastEnded map[netip.AddrPort]uint64
	est       sched.Estimator
	builder   sched.Builder
	entries   []int32 // the builder's output, reused
}

// real is a real server's runtime state.
type real struct {
	cfg  config.RealServer
	addr netip.AddrPort
	// up is the health verdict; healthWeight the weight healthd reports
	// (misc_dynamic, inhibit_on_failure), -1 until it reports one.
	up           bool
	healthWeight int
	reason       string
	// Operator overrides (xlbctl): weight replaces the configured one;
	// drained takes no new connections. They survive reloads that keep
	// the real.
	weightOverride *int
	drained        bool
}

func (r *real) configWeight() int {
	if r.weightOverride != nil {
		return *r.weightOverride
	}
	return r.cfg.Weight
}

// effectiveWeight is what the scheduler uses: 0 means no new connections.
func (r *real) effectiveWeight() int {
	if !r.up || r.drained {
		return 0
	}
	w := r.configWeight()
	if r.weightOverride == nil && r.healthWeight >= 0 {
		w = r.healthWeight
	}
	return w
}

func protoOf(s string) loader.Proto {
	if strings.EqualFold(s, "UDP") {
		return loader.UDP
	}
	return loader.TCP
}

func serviceKey(vs config.VirtualServer) loader.ServiceKey {
	return loader.ServiceKey{Addr: vs.Address, Port: uint16(vs.Port), Proto: protoOf(vs.Protocol)}
}

func realKey(rs config.RealServer) netip.AddrPort {
	return netip.AddrPortFrom(rs.Address, uint16(rs.Port))
}

// newService builds the runtime state of a configured service, carrying
// over what old (the same service before a reload, or nil) knew about
// reals that are still there: health, drain, weight overrides.
func newService(vs config.VirtualServer, old *service) (*service, error) {
	algo, err := sched.ParseAlgo(vs.LBAlgo)
	if err != nil {
		return nil, fmt.Errorf("virtual_server %s: %w", serviceKey(vs), err)
	}
	s := &service{cfg: vs, key: serviceKey(vs), algo: algo, quorum: true, dirty: true}
	prev := map[netip.AddrPort]*real{}
	if old != nil {
		for _, r := range old.reals {
			prev[r.addr] = r
		}
		s.quorum = old.quorum
		s.lastConns = old.lastConns
	}
	for _, rc := range vs.RealServers {
		r := &real{cfg: rc, addr: realKey(rc), up: !vs.Alpha, healthWeight: -1}
		if p := prev[r.addr]; p != nil {
			r.up, r.healthWeight, r.reason = p.up, p.healthWeight, p.reason
			// Operator changes last until a reload touches the real.
			if reflect.DeepEqual(p.cfg, rc) {
				r.weightOverride, r.drained = p.weightOverride, p.drained
			}
		}
		s.reals = append(s.reals, r)
	}
	if vs.SorryServer.IsValid() && !slices.ContainsFunc(s.reals, func(r *real) bool { return r.addr == vs.SorryServer }) {
		s.sorry = &real{addr: vs.SorryServer, up: true, healthWeight: -1, cfg: config.RealServer{Address: vs.SorryServer.Addr(), Port: int(vs.SorryServer.Port()), Weight: 1}}
	}
	return s, nil
}

func (s *service) loaderService() loader.Service {
	ls := loader.Service{
		Key:            s.key,
		Sched:          loaderSched(s.algo),
		HashPort:       s.cfg.MHPort,
		PersistTimeout: s.cfg.PersistenceTimeout.Duration,
	}
	if s.cfg.PersistenceTimeout.Duration > 0 {
		ls.PersistPrefix = s.cfg.PersistenceGranularity.Bits(s.key.Addr)
	}
	return ls
}

func loaderSched(a sched.Algo) loader.Sched {
	switch a {
	case sched.RR:
		return loader.SchedRR
	case sched.WRR:
		return loader.SchedWRR
	case sched.LC:
		return loader.SchedLC
	case sched.SH:
		return loader.SchedSH
	case sched.MH:
		return loader.SchedMH
	default:
		return loader.SchedWLC
	}
}

// serving lists the reals that take new connections now, and whether the
// sorry server stands in for them.
func (s *service) serving() (reals []*real, sorry bool) {
	for _, r := range s.reals {
		if r.effectiveWeight() > 0 {
			reals = append(reals, r)
		}
	}
	if s.sorry != nil && (len(reals) == 0 || !s.quorum) {
		return []*real{s.sorry}, true
	}
	if !s.quorum {
		return nil, false
	}
	return reals, false
}

// dataplaneReals is the list SetService gets: every configured real (and
// the sorry server), available when it serves.
func (s *service) dataplaneReals() []loader.Real {
	serving, _ := s.serving()
	out := make([]loader.Real, 0, len(s.reals)+1)
	all := s.reals
	if s.sorry != nil {
		all = append(slices.Clip(all), s.sorry)
	}
	for _, r := range all {
		out = append(out, loader.Real{Addr: r.addr, Available: slices.Contains(serving, r)})
	}
	return out
}

// buildTable runs the scheduler over the serving reals.
func (s *service) buildTable(counts map[netip.AddrPort]loader.ConnCounts, newConns int) ([]netip.AddrPort, error) {
	serving, sorry := s.serving()
	if len(serving) == 0 {
		return nil, nil
	}
	algo := s.algo
	if sorry {
		algo = sched.RR
	}
	// mh keeps every configured real in the table input (weight 0 when
	// not serving) so that its size and the other clients' slots stay.
	var in []*real
	if algo == sched.MH {
		in = s.reals
	} else {
		in = serving
	}
	sr := make([]sched.Real, len(in))
	for i, r := range in {
		w := 0
		if slices.Contains(serving, r) {
			w = max(r.effectiveWeight(), 1)
			if sorry {
				w = 1
			}
		}
		c := counts[r.addr]
		sr[i] = sched.Real{ID: i, Addr: r.addr, Weight: w, Active: c.Active, Inactive: c.Inactive}
		// Connections that ended last tick, per new connection: the plan
		// lets them end at that pace (a real with short connections
		// gets its share back within the tick, as IPVS would give it).
		if prev, ok := s.lastEnded[r.addr]; ok && newConns > 0 && c.Ended > prev {
			sr[i].Departures = float64(c.Ended-prev) / float64(newConns)
		}
	}
	if counts != nil {
		if s.lastEnded == nil {
			s.lastEnded = map[netip.AddrPort]uint64{}
		}
		for addr, c := range counts {
			s.lastEnded[addr] = c.Ended
		}
	}
	opts := sched.Options{}
	if algo == sched.LC || algo == sched.WLC {
		opts.ExpectedNew = s.est.Next(newConns)
	}
	t, err := s.builder.Build(s.entries, algo, sr, opts)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", s.key, err)
	}
	s.entries = t.Entries
	table := make([]netip.AddrPort, len(t.Entries))
	for i, id := range t.Entries {
		table[i] = in[id].addr
	}
	return table, nil
}

// healthServices translates the configuration into healthd's model. On a
// director that is not master, virtual servers with ha_suspend are not
// checked (keepalived's "suspend checkers during backup state"): their
// reals count as up until this director takes over and checks them.
func healthServices(cfg *config.Config, master bool) ([]healthd.VirtualServer, error) {
	var out []healthd.VirtualServer
	for _, vs := range cfg.VirtualServers {
		suspended := vs.HASuspend && !master
		hv := healthd.VirtualServer{
			Key:              serviceKey(vs).String(),
			DelayLoop:        vs.DelayLoop.Duration,
			Alpha:            vs.Alpha,
			Omega:            vs.Omega,
			InhibitOnFailure: vs.InhibitOnFailure,
			Quorum:           vs.Quorum,
			Hysteresis:       vs.Hysteresis,
			QuorumUp:         vs.QuorumUp,
			QuorumDown:       vs.QuorumDown,
			SMTPAlert:        vs.SMTPAlert,
		}
		for _, rs := range vs.RealServers {
			hr := healthd.Real{
				Key:              realKey(rs).String(),
				Addr:             realKey(rs),
				Weight:           rs.Weight,
				InhibitOnFailure: rs.InhibitOnFailure || vs.InhibitOnFailure,
				NotifyUp:         rs.NotifyUp,
				NotifyDown:       rs.NotifyDown,
				SMTPAlert:        rs.SMTPAlert,
			}
			if suspended {
				hv.Reals = append(hv.Reals, hr)
				continue
			}
			for _, c := range rs.HTTPGet {
				hr.Checks = append(hr.Checks, httpCheck(healthd.HTTPGet, c, vs))
			}
			for _, c := range rs.SSLGet {
				hc := httpCheck(healthd.SSLGet, c.HTTPGet, vs)
				hc.TLSVerify, hc.CAFile, hc.EnableSNI = c.Verify, c.CAFile, c.EnableSNI
				hr.Checks = append(hr.Checks, hc)
			}
			for _, c := range rs.TCPCheck {
				hc := healthd.Check{Type: healthd.TCPCheck}
				connect(&hc, c.CheckConnect)
				hr.Checks = append(hr.Checks, hc)
			}
			for _, c := range rs.MiscCheck {
				hr.Checks = append(hr.Checks, healthd.Check{
					Type:        healthd.MiscCheck,
					MiscPath:    c.MiscPath,
					MiscTimeout: c.MiscTimeout.Duration,
					MiscDynamic: c.MiscDynamic,
					User:        c.User,
					Shell:       c.Shell,
					Warmup:      c.Warmup.Duration,
				})
			}
			for _, c := range rs.DNSCheck {
				hc := healthd.Check{Type: healthd.DNSCheck, DNSType: c.Type, DNSName: c.Name}
				connect(&hc, c.CheckConnect)
				hr.Checks = append(hr.Checks, hc)
			}
			for _, c := range rs.UDPCheck {
				hc := healthd.Check{Type: healthd.UDPCheck, Payload: c.Payload, RequireReply: c.RequireReply.Required,
					ReplyData: c.RequireReply.Data, MinReplyLength: c.MinReplyLength, MaxReplyLength: c.MaxReplyLength}
				connect(&hc, c.CheckConnect)
				hr.Checks = append(hr.Checks, hc)
			}
			for _, c := range rs.PingCheck {
				hc := healthd.Check{Type: healthd.PingCheck}
				connect(&hc, c.Connect())
				hr.Checks = append(hr.Checks, hc)
			}
			for _, c := range rs.SMTPCheck {
				hc := healthd.Check{Type: healthd.SMTPCheck, HeloName: c.HeloName}
				connect(&hc, c.CheckConnect)
				hr.Checks = append(hr.Checks, hc)
			}
			for _, c := range rs.FileCheck {
				hr.Checks = append(hr.Checks, fileCheck(cfg, c))
			}
			hv.Reals = append(hv.Reals, hr)
		}
		out = append(out, hv)
	}
	if err := healthd.Validate(out); err != nil {
		return nil, err
	}
	return out, nil
}

func connect(hc *healthd.Check, c config.CheckConnect) {
	hc.ConnectIP = c.ConnectIP
	hc.ConnectPort = uint16(c.ConnectPort)
	hc.BindTo = c.BindTo
	hc.BindPort = uint16(c.BindPort)
	hc.ConnectTimeout = c.ConnectTimeout.Duration
	hc.Retry = c.Retry
	hc.DelayBeforeRetry = c.DelayBeforeRetry.Duration
	hc.Warmup = c.Warmup.Duration
}

// fileCheck resolves a file_check's track_file.
func fileCheck(cfg *config.Config, c config.FileCheck) healthd.Check {
	hc := healthd.Check{Type: healthd.FileCheck, TrackFile: c.TrackFile, FileWeight: c.Weight, FileReverse: c.Reverse}
	for _, f := range cfg.TrackFiles {
		if f.Name == c.TrackFile {
			hc.FilePath, hc.InitFile, hc.InitValue, hc.InitOverwrite = f.File, f.InitFile, f.InitValue, f.InitOverwrite
			break
		}
	}
	return hc
}

func httpCheck(t healthd.CheckType, c config.HTTPGet, vs config.VirtualServer) healthd.Check {
	hc := healthd.Check{Type: t, VirtualHost: c.VirtualHost, HTTPProtocol: c.HTTPProtocol}
	if hc.VirtualHost == "" {
		hc.VirtualHost = vs.VirtualHost
	}
	connect(&hc, c.CheckConnect)
	for _, u := range c.URLs {
		hu := healthd.URL{Path: u.Path, Digest: strings.ToLower(u.Digest), VirtualHost: u.VirtualHost, Regex: u.Regex, RegexNoMatch: u.RegexNoMatch}
		for _, r := range u.StatusCodes {
			hu.StatusCodes = append(hu.StatusCodes, healthd.StatusRange{Min: r.Min, Max: r.Max})
		}
		hc.URLs = append(hc.URLs, hu)
	}
	return hc
}
