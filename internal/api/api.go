// Package api is xlbd's control API: JSON over HTTP on a unix socket
// (default /run/xlb/xlbd.sock, mode 0600). The types here are shared by the
// daemon and xlbctl; `curl --unix-socket /run/xlb/xlbd.sock
// http://xlb/v1/status` works too.
package api

import "time"

// Paths of the API.
const (
	PathStatus = "/v1/status"
	PathConns  = "/v1/conns"
	PathStats  = "/v1/stats"
	PathReload = "/v1/reload"
	PathDrain  = "/v1/drain"
	PathWeight = "/v1/weight"
)

// Status is GET /v1/status: what the director does now.
type Status struct {
	RouterID   string    `json:"router_id"`
	ConfigFile string    `json:"config_file"`
	Started    time.Time `json:"started"`
	// LastReload is the outcome of the most recent reload, if any.
	LastReload *Reload    `json:"last_reload,omitempty"`
	Interfaces []string   `json:"interfaces"`
	Services   []Service  `json:"services"`
	VRRP       []Instance `json:"vrrp,omitempty"`
	Sync       *Sync      `json:"sync,omitempty"`
}

// Reload is the outcome of a reload (POST /v1/reload answers with it).
type Reload struct {
	At    time.Time `json:"at"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

// Service is a virtual service with its reals.
type Service struct {
	Address   string `json:"address"` // VIP:port
	Protocol  string `json:"protocol"`
	Scheduler string `json:"scheduler"`
	// Persistence is persistence_timeout, "" when off.
	Persistence string `json:"persistence,omitempty"`
	Quorum      bool   `json:"quorum"`
	// SorryServer is set when configured; SorryActive when it serves.
	SorryServer string  `json:"sorry_server,omitempty"`
	SorryActive bool    `json:"sorry_active,omitempty"`
	Traffic     Traffic `json:"traffic"`
	Reals       []Real  `json:"reals"`
}

// Real is a real server of a service.
type Real struct {
	Address string `json:"address"` // IP:port
	// Weight is the configured (or operator-set) weight, EffectiveWeight
	// what the scheduler uses now (0 when down or drained).
	Weight          int    `json:"weight"`
	EffectiveWeight int    `json:"effective_weight"`
	Health          string `json:"health"` // up, down
	Reason          string `json:"reason,omitempty"`
	Drained         bool   `json:"drained,omitempty"`
	// ActiveConns and InactiveConns as ipvsadm shows them.
	ActiveConns   uint64  `json:"active_conns"`
	InactiveConns uint64  `json:"inactive_conns"`
	Traffic       Traffic `json:"traffic"`
}

// Traffic counters.
type Traffic struct {
	Conns      uint64 `json:"conns"`
	PacketsIn  uint64 `json:"packets_in"`
	BytesIn    uint64 `json:"bytes_in"`
	PacketsOut uint64 `json:"packets_out"`
	BytesOut   uint64 `json:"bytes_out"`
}

// Instance is a VRRP instance's state.
type Instance struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Priority int    `json:"priority"`
	Master   string `json:"master,omitempty"`
}

// Conn is a tracked connection (GET /v1/conns?service=VIP:PORT&limit=N).
type Conn struct {
	Protocol string `json:"protocol"`
	Client   string `json:"client"`
	VIP      string `json:"vip"`
	Real     string `json:"real"`
	State    string `json:"state"`
	IdleSec  int    `json:"idle_sec"`
}

// Stats is GET /v1/stats: the dataplane's frame counters by reason.
type Stats struct {
	Counters map[string]uint64 `json:"counters"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// RealRequest is the body of POST /v1/drain and POST /v1/weight.
type RealRequest struct {
	Service  string `json:"service"`  // VIP:PORT
	Protocol string `json:"protocol"` // TCP (default) or UDP
	Real     string `json:"real"`     // IP:PORT
	// Drain: true drains, false undrains (back to the configured weight).
	Drain *bool `json:"drain,omitempty"`
	// Weight sets the weight until undrain or a reload that changes the
	// real.
	Weight *int `json:"weight,omitempty"`
}

// Sync is connection sync's state (status "sync").
type Sync struct {
	Master           bool   `json:"master"`
	Converged        bool   `json:"converged"`
	Peer             string `json:"peer,omitempty"`
	SentEntries      uint64 `json:"sent_entries"`
	ReceivedEntries  uint64 `json:"received_entries"`
	InstalledEntries uint64 `json:"installed_entries"`
	BulkSent         uint64 `json:"bulk_sent"`
	BulkReceived     uint64 `json:"bulk_received"`
	// Rejected counts messages dropped: bad MAC, replayed, malformed.
	Rejected uint64 `json:"rejected"`
}
