// Package healthd decides which real servers are up, with keepalived's
// checker semantics: HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, DNS_CHECK,
// UDP_CHECK, PING_CHECK, SMTP_CHECK and FILE_CHECK probes run
// every delay_loop, a failing real is retried `retry` times spaced by
// delay_before_retry before it is declared down, one success brings it back,
// and every checker of a real must pass for the real to be up.
//
// The daemon translates its configuration into VirtualServer values, hands
// them to Monitor.Set (again on every reload) and applies the RealEvent and
// QuorumEvent values the Monitor emits to the dataplane's selection tables.
// One goroutine schedules every check from a min-heap of due times and runs
// them on a bounded number of in-flight goroutines, so thousands of reals cost
// no sleeping goroutine each.
package healthd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// keepalived's defaults, applied by Set where a field is left zero.
const (
	DefaultDelayLoop      = 60 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxConcurrent bounds checks in flight across the Monitor.
	DefaultMaxConcurrent = 1024
	// DefaultScriptWorkers bounds notify scripts and mails running at once.
	DefaultScriptWorkers = 16
	// MaxDigestBody bounds the body read to compute a URL's MD5 digest or
	// match its regex.
	MaxDigestBody = 4 << 20
	// DefaultDNSType is keepalived's DNS_CHECK query type (its man page
	// and check_dns.h: SOA).
	DefaultDNSType = "SOA"
	// DefaultMaxReplyLength is keepalived's UDP_CHECK max_reply_length.
	DefaultMaxReplyLength = 255
	// DefaultHeloName is keepalived's SMTP_CHECK helo_name.
	DefaultHeloName = "smtpchecker.keepalived.org"
	// FileCheckInterval is how often a FILE_CHECK reads its file. keepalived
	// watches the file with inotify; healthd reads it this often instead.
	FileCheckInterval = time.Second
)

// DefaultRetry is keepalived's retry default for a checker type: 1, except
// 0 for MISC_CHECK and FILE_CHECK (which has none) and 3 for DNS_CHECK.
func DefaultRetry(t CheckType) int {
	switch t {
	case MiscCheck, FileCheck:
		return 0
	case DNSCheck:
		return 3
	}
	return 1
}

// DefaultDelayBeforeRetry is keepalived's delay_before_retry default: 3s for
// HTTP_GET and SSL_GET, 0 for DNS_CHECK (meaning its delay loop), 1s for the
// others.
func DefaultDelayBeforeRetry(t CheckType) time.Duration {
	switch t {
	case HTTPGet, SSLGet:
		return 3 * time.Second
	case DNSCheck:
		return 0
	}
	return time.Second
}

// VirtualServer is one service and its reals, as healthd needs them.
type VirtualServer struct {
	// Key names the service in events and status; unique.
	Key string
	// DelayLoop is the interval between checks; 0 means DefaultDelayLoop.
	DelayLoop time.Duration
	// Alpha starts new reals down until their first success. Without it
	// they start up.
	Alpha bool
	// Omega runs the quorum_down and notify_down scripts (and mails) of what
	// is up when the Monitor stops.
	Omega bool
	// InhibitOnFailure keeps failed reals with weight 0 instead of removing
	// them; a real can also set it for itself.
	InhibitOnFailure bool
	// Quorum is the minimum sum of weights of up reals for the service to
	// have quorum; 0 means 1, keepalived's default.
	Quorum int
	// Hysteresis dampens quorum flaps: quorum is gained at Quorum+Hysteresis
	// and lost below Quorum-Hysteresis.
	Hysteresis int
	// QuorumUp and QuorumDown are command lines run when quorum is gained
	// and lost.
	QuorumUp, QuorumDown string
	// SMTPAlert mails quorum transitions (needs Options.Mailer).
	SMTPAlert bool
	// Reals are the real servers.
	Reals []Real
}

// Real is one real server.
type Real struct {
	// Key names the real within its service; unique within it.
	Key string
	// Addr is where checks connect unless a check overrides it.
	Addr netip.AddrPort
	// Weight is the configured weight (keepalived's default is 1).
	Weight int
	// InhibitOnFailure: see VirtualServer.InhibitOnFailure.
	InhibitOnFailure bool
	// NotifyUp and NotifyDown are command lines run when the real goes up
	// and down.
	NotifyUp, NotifyDown string
	// SMTPAlert mails the real's transitions (needs Options.Mailer).
	SMTPAlert bool
	// Checks must all pass for the real to be up; a real without checks is
	// always up.
	Checks []Check
}

// CheckType selects a checker.
type CheckType int

// Checker types.
const (
	HTTPGet CheckType = iota + 1
	SSLGet
	TCPCheck
	MiscCheck
	DNSCheck
	UDPCheck
	PingCheck
	SMTPCheck
	FileCheck
)

func (t CheckType) String() string {
	switch t {
	case HTTPGet:
		return "HTTP_GET"
	case SSLGet:
		return "SSL_GET"
	case TCPCheck:
		return "TCP_CHECK"
	case MiscCheck:
		return "MISC_CHECK"
	case DNSCheck:
		return "DNS_CHECK"
	case UDPCheck:
		return "UDP_CHECK"
	case PingCheck:
		return "PING_CHECK"
	case SMTPCheck:
		return "SMTP_CHECK"
	case FileCheck:
		return "FILE_CHECK"
	}
	return "CheckType(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText writes the keepalived keyword.
func (t CheckType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Check is one checker of a real: a tagged struct whose Type says which
// fields apply.
type Check struct {
	Type CheckType

	// Connection options (every type but MISC_CHECK and FILE_CHECK;
	// PING_CHECK has no ports).

	// ConnectIP and ConnectPort override the real's address and port.
	ConnectIP   netip.Addr
	ConnectPort uint16
	// BindTo and BindPort set the source address and port of the probe.
	BindTo   netip.Addr
	BindPort uint16
	// ConnectTimeout bounds one whole probe: connect, TLS handshake,
	// request and response (the wait for a reply or an ICMP error for the
	// datagram checks). 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// Scheduling (every type).

	// DelayLoop overrides the virtual server's delay_loop for this check.
	DelayLoop time.Duration
	// Retry is how many more times a failing check of an up real is tried,
	// DelayBeforeRetry apart, before the check is declared down: a real
	// goes down after Retry+1 consecutive failures (keepalived's retry,
	// formerly nb_get_retry). It is used as given; DefaultRetry(Type) is
	// keepalived's default.
	Retry int
	// DelayBeforeRetry spaces the retries; 0 means
	// DefaultDelayBeforeRetry(Type) (for DNS_CHECK, the delay loop).
	DelayBeforeRetry time.Duration
	// Warmup: the first check waits a random time in [0, Warmup). 0 means
	// the delay loop (keepalived's default) and spreads checks over it;
	// negative disables the wait.
	Warmup time.Duration

	// HTTP_GET and SSL_GET.

	// URLs are fetched in order, one connection each; all must pass.
	URLs []URL
	// VirtualHost is the Host header (and, with EnableSNI, the TLS server
	// name) for URLs that set none.
	VirtualHost string
	// EnableSNI sends the virtual host as TLS server name (SSL_GET).
	EnableSNI bool
	// TLSVerify verifies the server's certificate against CAFile, or the
	// system roots when CAFile is empty, and the virtual host (or the
	// connect address). keepalived does not verify, nor does healthd by
	// default.
	TLSVerify bool
	CAFile    string
	// HTTPProtocol is keepalived's http_protocol: "1.0" (a bare HTTP/1.0
	// request), "1.0C" (HTTP/1.0 with Connection: close) or "1.1" (HTTP/1.1
	// with Connection: close). Empty means "1.1".
	HTTPProtocol string

	// DNS_CHECK.

	// DNSType is the query type: A, NS, CNAME, SOA, MX, TXT or AAAA (any
	// case). Empty means DefaultDNSType.
	DNSType string
	// DNSName is the name queried; empty or "." is the root.
	DNSName string

	// UDP_CHECK.

	// Payload is the datagram sent, in keepalived's hex notation ("0a 1b
	// 2c3d"); empty sends DefaultUDPPayload.
	Payload string
	// RequireReply: the real passes only when a reply arrives, with a length
	// between MinReplyLength and MaxReplyLength, starting with ReplyData.
	// Without it the real passes unless an ICMP error arrives within
	// ConnectTimeout.
	RequireReply bool
	// ReplyData is the hex the reply must start with (keepalived compares
	// the shorter of the two); x or X in it matches any nibble.
	ReplyData string
	// MinReplyLength and MaxReplyLength bound the reply's length; a zero
	// MaxReplyLength means DefaultMaxReplyLength.
	MinReplyLength, MaxReplyLength int

	// SMTP_CHECK.

	// HeloName is sent with HELO; empty means DefaultHeloName.
	HeloName string

	// FILE_CHECK.

	// TrackFile names the track_file (for logs), FilePath is its file.
	TrackFile, FilePath string
	// FileWeight multiplies the number in the file; FileReverse negates
	// it. The product, limited to a 32-bit int, is added to the real's
	// weight; -2147483648 or less puts the real down. With weight 0 a
	// non-zero number puts the real down (with FileReverse, zero does).
	FileWeight  int
	FileReverse bool
	// InitFile writes InitValue to the file when it does not exist, and
	// with InitOverwrite also when it does (on the Monitor's first Set
	// only, as keepalived does not on a reload).
	InitFile      bool
	InitValue     int
	InitOverwrite bool

	// MISC_CHECK.

	// MiscPath is the command line of the program to run.
	MiscPath string
	// MiscTimeout bounds one run; 0 means the delay loop.
	MiscTimeout time.Duration
	// MiscDynamic: exit codes 2-255 are a success that sets the real's
	// weight to code-2.
	MiscDynamic bool
	// User runs the program as "user[:group]".
	User string
	// Shell runs MiscPath with /bin/sh -c instead of splitting it.
	Shell bool
}

// URL is one url block of HTTP_GET or SSL_GET.
type URL struct {
	Path string
	// StatusCodes accepted; empty means 200-299.
	StatusCodes []StatusRange
	// Digest is the lower-case hex MD5 of the body; empty skips the body.
	Digest string
	// VirtualHost overrides the check's.
	VirtualHost string
	// Regex must match the body (Go's RE2 syntax), or with RegexNoMatch
	// must not; empty skips it.
	Regex        string
	RegexNoMatch bool
}

// StatusRange is an inclusive range of HTTP status codes; Min == Max for a
// single code.
type StatusRange struct{ Min, Max int }

// ParseStatusRanges parses keepalived's status_code values: "200",
// "200-299 400-499 503".
func ParseStatusRanges(words ...string) ([]StatusRange, error) {
	var out []StatusRange
	for _, f := range words {
		for w := range strings.FieldsSeq(f) {
			lo, hi, isRange := strings.Cut(w, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("status code %q: %w", w, err)
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil {
					return nil, fmt.Errorf("status code %q: %w", w, err)
				}
			}
			r := StatusRange{a, b}
			if err := r.validate(); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func (r StatusRange) validate() error {
	if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
		return fmt.Errorf("status code range %d-%d: outside 100-599 or reversed", r.Min, r.Max)
	}
	return nil
}

// Event is a RealEvent or a QuorumEvent.
type Event interface{ isEvent() }

// RealEvent reports a real's new state or weight. Down reals have weight 0;
// Inhibited ones (inhibit_on_failure) stay in the pool with that weight
// instead of leaving it. New reals get an event with their initial state.
type RealEvent struct {
	Service, Real string
	Up            bool
	Weight        int
	Inhibited     bool
	Reason        string
}

// QuorumEvent reports that a service gained or lost quorum; new services get
// one with their initial state. WeightSum is the sum of the weights of its up
// reals. While a service has no quorum the daemon may switch to its
// sorry_server.
type QuorumEvent struct {
	Service   string
	Up        bool
	WeightSum int
	Reason    string
}

func (RealEvent) isEvent()   {}
func (QuorumEvent) isEvent() {}

// ServiceStatus is the health of one service, for the control API.
type ServiceStatus struct {
	Service   string       `json:"service"`
	QuorumUp  bool         `json:"quorum_up"`
	WeightSum int          `json:"weight_sum"`
	Quorum    int          `json:"quorum"`
	Reals     []RealStatus `json:"reals"`
}

// RealStatus is the health of one real.
type RealStatus struct {
	Real   string         `json:"real"`
	Addr   netip.AddrPort `json:"addr"`
	Up     bool           `json:"up"`
	Weight int            `json:"weight"`
	// LastCheck is when the most recent check of this real completed.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastError is the cause of the current failure of a down real, else of
	// its most recent failed check.
	LastError string `json:"last_error,omitempty"`
	// ConsecutiveFailures is the largest run of failures among its checks.
	ConsecutiveFailures int           `json:"consecutive_failures"`
	Checks              []CheckStatus `json:"checks"`
}

// CheckStatus is the state of one checker.
type CheckStatus struct {
	Type                CheckType `json:"type"`
	Target              string    `json:"target"`
	Up                  bool      `json:"up"`
	LastCheck           time.Time `json:"last_check,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	// Checks and Failures count probes since the checker started.
	Checks   uint64 `json:"checks"`
	Failures uint64 `json:"failures"`
}
