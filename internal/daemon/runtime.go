package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/xlb/xlb/internal/api"
	"github.com/xlb/xlb/loader"
)

// Errors of runtime changes.
var (
	errNoService = errors.New("no such virtual server")
	errNoReal    = errors.New("no such real server")
)

// findReal resolves an API request's service and real.
func (d *Daemon) findReal(req api.RealRequest) (*service, *real, error) {
	vip, err := netip.ParseAddrPort(req.Service)
	if err != nil {
		return nil, nil, fmt.Errorf("service %q: want VIP:PORT", req.Service)
	}
	addr, err := netip.ParseAddrPort(req.Real)
	if err != nil {
		return nil, nil, fmt.Errorf("real %q: want IP:PORT", req.Real)
	}
	proto := loader.TCP
	switch strings.ToUpper(req.Protocol) {
	case "", "TCP":
	case "UDP":
		proto = loader.UDP
	default:
		return nil, nil, fmt.Errorf("protocol %q: want TCP or UDP", req.Protocol)
	}
	key := loader.ServiceKey{Addr: vip.Addr(), Port: vip.Port(), Proto: proto}
	s, ok := d.services[key]
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w", key, errNoService)
	}
	for _, r := range s.reals {
		if r.addr == addr {
			return s, r, nil
		}
	}
	return nil, nil, fmt.Errorf("%s in %s: %w", addr, key, errNoReal)
}

// handleReal serves drain, undrain and weight: the change is in the
// dataplane before the answer (no waiting for a tick).
func (d *Daemon) handleReal(w http.ResponseWriter, r *http.Request) {
	var req api.RealRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request: %w", err))
		return
	}
	if (req.Drain == nil) == (req.Weight == nil) {
		writeError(w, http.StatusBadRequest, errors.New("request: give exactly one of drain and weight"))
		return
	}
	if req.Weight != nil && (*req.Weight < 0 || *req.Weight > 65535) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("weight %d: want 0..65535", *req.Weight))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, rl, err := d.findReal(req)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errNoService) || errors.Is(err, errNoReal) {
			code = http.StatusNotFound
		}
		writeError(w, code, err)
		return
	}
	switch {
	case req.Drain != nil && *req.Drain:
		rl.drained = true
	case req.Drain != nil:
		// Undrain returns the real to its configured weight.
		rl.drained = false
		rl.weightOverride = nil
	default:
		wgt := *req.Weight
		rl.weightOverride = &wgt
	}
	s.dirty = true
	if err := d.syncServiceLocked(s); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	d.logger.Info("real changed by operator", "service", s.key.String(), "real", rl.addr.String(),
		"drained", rl.drained, "weight", rl.configWeight(), "effective_weight", rl.effectiveWeight())
	writeJSON(w, http.StatusOK, d.realStatusLocked(s, rl))
}
