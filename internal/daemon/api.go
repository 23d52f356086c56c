package daemon

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/loader"
)

func (d *Daemon) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.status())
	})
	mux.HandleFunc("GET "+api.PathStats, func(w http.ResponseWriter, r *http.Request) {
		c, err := d.dp.Counters()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, api.Stats{Counters: c})
	})
	mux.HandleFunc("GET "+api.PathConns, d.handleConns)
	mux.Handle("GET /metrics", d.metricsHandler())
	mux.HandleFunc("POST "+api.PathDrain, d.handleReal)
	mux.HandleFunc("POST "+api.PathWeight, d.handleReal)
	mux.HandleFunc("POST "+api.PathReload, func(w http.ResponseWriter, r *http.Request) {
		done := make(chan error, 1)
		d.requestReload(done)
		select {
		case err := <-done:
			if err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, api.Reload{At: time.Now(), Error: err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, api.Reload{At: time.Now(), OK: true})
		case <-r.Context().Done():
		}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: err.Error()})
}

func traffic(t loader.Traffic) api.Traffic {
	return api.Traffic{Conns: t.Conns, PacketsIn: t.PacketsIn, BytesIn: t.BytesIn, PacketsOut: t.PacketsOut, BytesOut: t.BytesOut}
}

func (d *Daemon) status() api.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := api.Status{
		RouterID:   d.cfg.Global.RouterID,
		ConfigFile: d.opts.ConfigPath,
		Started:    d.started,
		LastReload: d.lastReload,
		Interfaces: slices.Clone(d.cfg.Dataplane.Interfaces),
		VRRP:       d.vrrp.status(d.cfg),
		Sync:       d.syncStatus(),
	}
	for _, key := range d.order {
		s := d.services[key]
		as := api.Service{
			Address:   netip.AddrPortFrom(key.Addr, key.Port).String(),
			Protocol:  key.Proto.String(),
			Scheduler: s.algo.String(),
			Quorum:    s.quorum,
		}
		if p := s.cfg.PersistenceTimeout.Duration; p > 0 {
			as.Persistence = p.String()
		}
		if t, err := d.dp.ServiceTraffic(key); err == nil {
			as.Traffic = traffic(t)
		}
		_, sorry := s.serving()
		if s.sorry != nil {
			as.SorryServer = s.sorry.addr.String()
			as.SorryActive = sorry
		}
		for _, r := range s.reals {
			as.Reals = append(as.Reals, d.realStatusLocked(s, r))
		}
		st.Services = append(st.Services, as)
	}
	return st
}

// realStatusLocked is a real's line of the status.
func (d *Daemon) realStatusLocked(s *service, r *real) api.Real {
	counts, _ := d.dp.RealConns(s.key)
	ar := api.Real{
		Address:         r.addr.String(),
		Weight:          r.configWeight(),
		EffectiveWeight: r.effectiveWeight(),
		Health:          "up",
		Reason:          r.reason,
		Drained:         r.drained,
		ActiveConns:     counts[r.addr].Active,
		InactiveConns:   counts[r.addr].Inactive,
	}
	if !r.up {
		ar.Health = "down"
	}
	if t, err := d.dp.RealTraffic(s.key, r.addr); err == nil {
		ar.Traffic = traffic(t)
	}
	return ar
}

func (d *Daemon) handleConns(w http.ResponseWriter, r *http.Request) {
	limit := 1000
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, errors.New("limit: want a number ≥ 0"))
			return
		}
		limit = n
	}
	var svc netip.AddrPort
	if s := r.URL.Query().Get("service"); s != "" {
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, errors.New("service: want VIP:PORT"))
			return
		}
		svc = a
	}
	conns, err := d.dp.Conns(func(c *loader.Conn) bool { return !svc.IsValid() || c.VIP == svc }, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]api.Conn, 0, len(conns))
	for _, c := range conns {
		out = append(out, api.Conn{
			Protocol: c.Proto.String(), Client: c.Client.String(), VIP: c.VIP.String(),
			Real: c.Real.String(), State: c.State, IdleSec: int(c.Idle / time.Second),
		})
	}
	writeJSON(w, http.StatusOK, out)
}
