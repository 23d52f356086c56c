package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Modes of the rate test: what runs on the LB's ingress.
const (
	modeFloor = "xdp-floor" // bench_floor: fib lookup + redirect, no LB at all
	modeXLB   = "xlb"
	modeNFT   = "nft-dnat" // XDP_PASS, then the kernel stack: nftables DNAT + conntrack
)

// TCP modes: how the client reaches the reals.
const (
	tcpDirect  = "kernel forwarding, no LB" // to the reals' own addresses, routed by the LB host
	tcpXLB     = "xlb"
	tcpNFT     = "nft-dnat"
	tcpHAProxy = "haproxy mode tcp"
)

// results is everything one run of the tool measured, for the report.
type results struct {
	Start    time.Time
	Elapsed  time.Duration
	Command  string
	Commit   string
	Machine  machine
	Micro    *microResults
	Forward  *forwardResults
	TCP      *tcpResults
	Scale    *scaleResults
	Profile  *profileResults
	Problems []string // parts that failed, with why
}

type machine struct {
	Kernel, CPU, Go string
	Cores           int
	LBCPU, GenCPU   int
}

// microResults are loader's BPF_PROG_TEST_RUN benchmarks.
type microResults struct {
	Command string
	Repeat  int
	// ns/pkt by case name (floor_fib_redirect, tcp_established, ...)
	NsPerPkt  map[string]float64
	HarnessNs map[string]float64
}

// fwdSample is one measured window of the rate test.
type fwdSample struct {
	PPS        float64 // frames per second arriving at the reals
	LBNsPerPkt float64 // LB NAPI thread CPU ns per delivered frame
	LBUtil     float64 // LB thread CPU time / wall time
	Offered    uint64  // frames the LB ingress refused (ring full): > 0 means saturated
	In         uint64  // frames the LB ingress took
	Delivered  uint64  // frames the reals got
	AfterLB    uint64  // frames dropped between the LB and the reals
	Valid      bool
	Why        string // when not valid
}

// fwdCell is one (mode, case) of the rate matrix.
type fwdCell struct {
	Mode, Case string
	Samples    []fwdSample
}

// medians of the valid samples (all samples if none is valid).
func (c fwdCell) medians() (pps, nsPerPkt float64, valid int) {
	var ps, ns []float64
	for _, s := range c.Samples {
		if s.Valid {
			ps, ns = append(ps, s.PPS), append(ns, s.LBNsPerPkt)
			valid++
		}
	}
	if valid == 0 {
		for _, s := range c.Samples {
			ps, ns = append(ps, s.PPS), append(ns, s.LBNsPerPkt)
		}
	}
	return medianF(ps), medianF(ns), valid
}

type forwardResults struct {
	Window, Warmup time.Duration
	Reps           int
	Modes, Cases   []string
	Cells          []fwdCell
	// XDP program time per frame from the kernel's BPF run-time stats
	// during one extra run per mode (xlb, floor), by mode and case.
	ProgNs map[string]float64
}

func (f *forwardResults) cell(mode, c string) *fwdCell {
	for i := range f.Cells {
		if f.Cells[i].Mode == mode && f.Cells[i].Case == c {
			return &f.Cells[i]
		}
	}
	return nil
}

// tcpMode is one way of reaching the reals in the TCP test.
type tcpMode struct {
	Name string
	// LB CPU per connection (steered run): NAPI threads on the LB's
	// CPU, plus HAProxy's process.
	CPUPerConn time.Duration
	CPUConns   int
	// times the LB's NAPI threads were woken per connection: each wake
	// costs the scheduler's switch in and out whatever the packet work.
	WakesPerConn float64
	// connect → request → response → close, default CPU placement.
	P50, P90, P99 time.Duration
	LatConns      int
	Failed        int
	PerReal       map[string]int
}

// tcpCPURounds is how many times the LB CPU per connection is measured.
const tcpCPURounds = 3

type tcpResults struct {
	Conns    int
	Parallel int // connections at a time in the CPU measurement
	Modes    []tcpMode
}

func (t *tcpResults) mode(name string) *tcpMode {
	for i := range t.Modes {
		if t.Modes[i].Name == name {
			return &t.Modes[i]
		}
	}
	return nil
}

type scaleResults struct {
	Flows        int    // conntrack entries after the fill
	MaxEntries   uint32 // conntrack max_entries
	FillTime     time.Duration
	ConntrackMem uint64 // memlock of the conntrack map
	ConntrackID  uint32 // its id, for bpftool
	// bpftool map show's memlock for the same map, as a cross-check
	BPFToolMemlock uint64
	AllMapsMem     uint64 // memlock of every dataplane map
	GCTime         time.Duration
	Services       int
	RealsPer       int
	ApplyTime      time.Duration // SetService for each, SetTables for all
	ReapplyTime    time.Duration // the same config again (no change)
	DrainP50       time.Duration // SetService marking a real unavailable
	DrainMax       time.Duration
	DrainTrials    int
	DrainLeaks     int // new connections that reached a drained real after SetService returned
	DrainConnsRun  int // new connections tried after each drain
	EstablishedOK  bool
}

type profileResults struct {
	// per program: xlated and JITed size, verifier work, kernel
	// functions called
	Progs []progProfile
	// perf's hottest symbols per micro-benchmark
	PerfTop  map[string][]string
	PerfNote string
	// bpftool prog profile's answer (it needs hardware counters).
	BPFToolProfile string
}

type progProfile struct {
	Name          string
	Xlated        int // instructions after the verifier's rewrites
	JitedBytes    int
	VerifiedInsns uint32         // instructions the verifier walked
	Calls         map[string]int // call sites by kernel function
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// validSample applies BENCH-NOTES' rule: a window counts when the
// generator outpaced the LB (its ingress refused frames) and nothing was
// lost after the LB. How much of its CPU the LB thread got (LBUtil) is
// reported, not judged: on a machine shared with other work the thread
// is preempted, the ring fills meanwhile and the next poll takes full
// batches, so its time per frame stays what a saturated LB pays, while
// frames per wall-clock second measure the sharing.
func validSample(s fwdSample) (bool, string) {
	var why []string
	if s.Offered == 0 {
		why = append(why, "LB ingress never full")
	}
	if s.Delivered == 0 {
		why = append(why, "nothing delivered")
	} else if float64(s.AfterLB) > 0.001*float64(s.Delivered) {
		why = append(why, fmt.Sprintf("%d dropped after the LB", s.AfterLB))
	}
	return len(why) == 0, strings.Join(why, "; ")
}
