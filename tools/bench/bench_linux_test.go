package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xlb/xlb/internal/testutil"
)

func TestInsertRun(t *testing.T) {
	doc := insertRun("", "### Run 1\n")
	for _, want := range []string{"# xlb benchmarks\n", sectionHeading + "\n", "### Run 1\n\n" + runsMarker} {
		if !strings.Contains(doc, want) {
			t.Fatalf("new file lacks %q:\n%s", want, doc)
		}
	}
	// Another engineer's section after ours stays after ours, untouched,
	// and runs keep their order.
	other := "\n## Health checks (issue 12)\n\nTheir text.\n"
	doc = insertRun(doc+other, "### Run 2\n")
	if !strings.HasSuffix(doc, other) {
		t.Fatalf("the other section moved or changed:\n%s", doc)
	}
	r1, r2, m := strings.Index(doc, "### Run 1"), strings.Index(doc, "### Run 2"), strings.Index(doc, runsMarker)
	if !(r1 < r2 && r2 < m) {
		t.Fatalf("runs out of order (run 1 at %d, run 2 at %d, marker at %d):\n%s", r1, r2, m, doc)
	}
	// A file with other sections but not ours gets ours at the end.
	doc = insertRun("# xlb benchmarks\n\n## Sync (issue 9)\n\nx\n", "### Run 3\n")
	if !strings.HasPrefix(doc, "# xlb benchmarks\n\n## Sync (issue 9)\n\nx\n\n"+sectionHeading) {
		t.Fatalf("section not appended after the existing ones:\n%s", doc)
	}
}

func TestAppendRunWritesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	for _, run := range []string{"### A\n", "### B\n"} {
		if err := appendRun(p, run); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), sectionHeading) != 1 || !strings.Contains(string(b), "### A\n\n### B\n\n"+runsMarker) {
		t.Fatalf("file:\n%s", b)
	}
}

func TestParseMicro(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/xlb/xlb/loader
cpu: AMD EPYC
BenchmarkDataplane/floor_fib_redirect-2         	 1000000	       579.2 ns/op	       230.0 gross-ns/pkt	        59.00 harness-ns/pkt	       171.0 ns/pkt
BenchmarkDataplane/tcp_established-2            	 1000000	      1727 ns/op	       422.0 gross-ns/pkt	        61.00 harness-ns/pkt	       361.0 ns/pkt
PASS
ok  	github.com/xlb/xlb/loader	16.633s
`
	r, err := parseMicro(out, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	if r.NsPerPkt["floor_fib_redirect"] != 171 || r.NsPerPkt["tcp_established"] != 361 || r.HarnessNs["tcp_established"] != 61 || len(r.NsPerPkt) != 2 {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseMicro("FAIL\n", 1); err == nil {
		t.Fatal("output without results parsed")
	}
}

func TestParsePerfReport(t *testing.T) {
	out := `# Samples: 4K of event 'cpu-clock:ppp'
#
    21.36%  [k] bpf_prog_c5f39ce33545b625_xlb_ingress    bpf_test_run 
    14.35%  [k] bpf_prog_1d29544645866ae4_bench_harness  bpf_test_run 
     7.13%  [k] fib_table_lookup                         bpf_test_run 
`
	got := parsePerfReport(out, 2)
	want := []string{"21.4% bpf_prog_c5f39ce33545b625_xlb_ingress", "14.3% bpf_prog_1d29544645866ae4_bench_harness"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestPattern(t *testing.T) {
	p := patternFor(50000)
	first, last := p.flowAt(flowBase, 0), p.flowAt(flowBase, 49999)
	if first != flowBase || last != netip.AddrPortFrom(flowBase.Addr(), flowBase.Port()+49999) || p.flowAt(flowBase, 50000) != first {
		t.Fatalf("50k flows: first %s last %s", first, last)
	}
	f := patternFor(freshFlows)
	end := f.flowAt(flowBase, freshFlows-1)
	if end.Addr() != netip.MustParseAddr("198.51.100.250") || end.Port() != 59999 {
		t.Fatalf("fresh flows end at %s, want 198.51.100.250:59999", end)
	}
	if one := patternFor(1); one.flowAt(flowBase, 12345) != flowBase {
		t.Fatal("one flow varies")
	}
}

// checksumsOK recomputes the IPv4 and TCP/UDP checksums of a frame.
func checksumsOK(t *testing.T, b []byte) {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if p.ErrorLayer() != nil {
		t.Fatalf("frame does not decode: %v", p.ErrorLayer().Error())
	}
	ip := b[14:34]
	if sum(ip, 0) != 0xffff {
		t.Fatalf("IPv4 header checksum wrong")
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	l4 := b[34 : 14+tot]
	pseudo := append(append([]byte{}, ip[12:20]...), 0, ip[9], byte(len(l4)>>8), byte(len(l4)))
	if sum(l4, sum(pseudo, 0)) != 0xffff {
		t.Fatalf("L4 checksum wrong")
	}
}

func sum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s
}

func TestTemplates(t *testing.T) {
	for _, proto := range []uint8{protoTCP, protoUDP} {
		b, err := synTemplate(proto).bytes()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != frameLen {
			t.Fatalf("frame of %d bytes", len(b))
		}
		checksumsOK(t, b)
	}
}

// TestGeneratorFrames runs bench_gen (as a plain test run) and checks
// that frame n carries flow n of the pattern with correct checksums: the
// C side's flow arithmetic and incremental checksums against Go's.
func TestGeneratorFrames(t *testing.T) {
	testutil.RequireRoot(t)
	var objs benchObjects
	if err := loadBenchObjects(&objs, nil); err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	for _, proto := range []uint8{protoTCP, protoUDP} {
		tp := synTemplate(proto)
		p := pattern{flows: 7, ports: 3, portBase: 40000}
		fc, err := tp.cfg(p)
		if err != nil {
			t.Fatal(err)
		}
		testutil.Must(t, objs.FrameCfgs.Put(uint32(0), fc))
		testutil.Must(t, objs.FrameSeq.Put(uint32(0), uint64(0)))
		for n := range uint64(9) {
			opts := ebpf.RunOptions{Data: make([]byte, frameLen), DataOut: make([]byte, frameLen)}
			ret, err := objs.BenchGen.Run(&opts)
			if err != nil {
				t.Fatal(err)
			}
			if ret != 3 { // XDP_TX
				t.Fatalf("verdict %d, want XDP_TX", ret)
			}
			checksumsOK(t, opts.DataOut)
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(opts.DataOut[26:30])), binary.BigEndian.Uint16(opts.DataOut[34:]))
			if want := p.flowAt(tp.src, n); src != want {
				t.Fatalf("proto %d frame %d from %s, want %s", proto, n, src, want)
			}
			if !bytes.Equal(opts.DataOut[30:34], fc.Frame[30:34]) || !bytes.Equal(opts.DataOut[:12], fc.Frame[:12]) {
				t.Fatalf("frame %d: destination changed", n)
			}
		}
	}
}

func TestValidSample(t *testing.T) {
	for _, s := range []fwdSample{
		{Offered: 10, LBUtil: 0.95, Delivered: 100000, AfterLB: 50},
		{Offered: 10, LBUtil: 0.3, Delivered: 100000}, // preempted, still saturated
	} {
		if ok, why := validSample(s); !ok || why != "" {
			t.Fatalf("saturated sample %+v refused: %s", s, why)
		}
	}
	for _, s := range []fwdSample{
		{Offered: 0, LBUtil: 1, Delivered: 1000},
		{Offered: 1, LBUtil: 1, Delivered: 1000, AfterLB: 10},
		{Offered: 1, LBUtil: 1},
	} {
		if ok, _ := validSample(s); ok {
			t.Fatalf("sample %+v accepted", s)
		}
	}
}

func TestRenderRun(t *testing.T) {
	fw := &forwardResults{Reps: 1, Window: time.Second, Modes: []string{modeFloor, modeXLB, modeNFT}, Cases: []string{"udp 50k flows"}, ProgNs: map[string]float64{}}
	for mode, ns := range map[string]float64{modeFloor: 300, modeXLB: 350, modeNFT: 2100} {
		fw.Cells = append(fw.Cells, fwdCell{Mode: mode, Case: "udp 50k flows", Samples: []fwdSample{{PPS: 1e9 / ns, LBNsPerPkt: ns, LBUtil: 1, Valid: true}}})
	}
	r := &results{
		Start: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Command: "go run ./tools/bench", Commit: "abc",
		Micro:   &microResults{Repeat: 1000000, NsPerPkt: map[string]float64{"floor_fib_redirect": 200, "tcp_established": 320}},
		Forward: fw,
		TCP: &tcpResults{Conns: 100, Modes: []tcpMode{
			{Name: tcpXLB, CPUPerConn: 40 * time.Microsecond, P50: 150 * time.Microsecond},
			{Name: tcpNFT, CPUPerConn: 60 * time.Microsecond, P50: 160 * time.Microsecond},
			{Name: tcpHAProxy, CPUPerConn: 140 * time.Microsecond, P50: 280 * time.Microsecond},
		}},
		Scale: &scaleResults{Flows: 1000, ConntrackMem: 136000, ApplyTime: 2 * time.Second, Services: 1000, RealsPer: 10},
	}
	out := renderRun(r)
	for _, want := range []string{
		"### Run 2026-01-02 03:04 UTC, commit abc",
		"| forwarding ≥ 5× nftables DNAT, many flows (per LB-core-second; raw pps in brackets) | udp 50k flows 6.00×",
		"| forwarding ≥ 80% of the XDP floor (per LB-core-second) | udp 50k flows 86% | yes |",
		"| established-flow ns/pkt ≤ 1.5× the floor's (BPF_PROG_TEST_RUN) | 1.60× (320 vs 200 ns) | **no** |",
		"| LB CPU per connection ≤ ½ HAProxy's | 0.29× (40 µs vs 140 µs) | yes |",
		"| ≤ 128 bytes of map memory per tracked flow | 136.0 B (conntrack memlock / 1000 flows) | **no** |",
		"| 1000 × 10 config applied in < 1 s | 2.00 s | **no** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestGeneratedUpToDate rebuilds bench.c with gen.go's directive and
// fails if the committed object or bindings differ.
func TestGeneratedUpToDate(t *testing.T) {
	testutil.RequireGeneratedUpToDate(t, "main", "bench_bpfel.go", "bench_bpfel.o")
}

// TestRateWindow builds the lab and measures one short window of the
// floor: frames reach the reals (as many as the LB took, give or take
// those in flight at the snapshots), the LB's NAPI thread is found and
// charged, and nothing is lost after the LB.
func TestRateWindow(t *testing.T) {
	testutil.RequireNetNSTests(t)
	logger := slog.New(slog.DiscardHandler)
	var objs benchObjects
	testutil.Must(t, loadBenchObjects(&objs, nil))
	defer objs.Close()
	l, err := newBenchLab(logger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := config{Window: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, LBCPU: 1, GenCPU: 0, Flows: 1000}
	if cpus := allCPUs(); !containsAll(cpus, 0, 1) {
		t.Skip("skipped: needs CPUs 0 and 1")
	}
	fb := &fwdBench{cfg: cfg, logger: logger, lab: l, objs: &objs}
	for i := range l.web {
		s, err := attachXDP(l.web[i], l.webIf[i], objs.BenchSink)
		testutil.Must(t, err)
		defer s.Close()
	}
	ctx := context.Background()
	testutil.Must(t, nsRun(ctx, l.lb, "ip", "route", "add", vip.String()+"/32", "via", realAddrs[0].String()))
	testutil.Must(t, fb.setMode(ctx, modeFloor))
	defer fb.setMode(ctx, "")
	if len(fb.lbPIDs) != 3 {
		t.Fatalf("%d LB NAPI threads, want 3", len(fb.lbPIDs))
	}
	s, err := fb.sample(ctx, fwdCase{Name: "udp", Proto: protoUDP, Flows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if s.Delivered < 1000 || s.LBNsPerPkt <= 0 || float64(s.Delivered) > 1.02*float64(s.In)+1024 || float64(s.AfterLB) > 0.01*float64(s.Delivered) {
		t.Fatalf("window: %+v", s)
	}
}
