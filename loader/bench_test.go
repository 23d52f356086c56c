package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/xlb/xlb/internal/lab"
	"github.com/xlb/xlb/internal/xdptest"
)

// BPF_PROG_TEST_RUN micro-benchmarks of the dataplane (issue 8, part 1),
// next to the floor: tools/bench's bench_floor, a program that does only
// bpf_fib_lookup, the TTL decrement, the MAC rewrite and the redirect.
//
// The kernel runs a program Repeat times on one buffer, which an XDP
// program that rewrites addresses leaves changed for the next run: after
// the first run xlb would be benchmarking its pass-through path. So every
// run goes through tools/bench's bench_harness, which copies the frame
// back from a template (optionally moving to a fresh flow) and tail-calls
// the program under test. The harness with an empty target (bench_nop) is
// measured in the same benchmark and subtracted: ns/pkt is the program's
// own cost, harness-ns/pkt what was subtracted.
//
//	go test -run '^$' -bench Dataplane -benchtime 1000000x ./loader/
//
// Every benchmark checks the dataplane's counters afterwards, so a number
// is only reported for the path it claims to measure.

// benchObject is tools/bench's BPF object (bpf2go output, committed).
const benchObject = "../tools/bench/bench_bpfel.o"

// benchFrameLen is the harness's frame size (FRAME_LEN in bench.c).
const benchFrameLen = 60

var (
	benchWeb1 = xdptest.Web1
	benchWeb2 = xdptest.Web2
	// Fresh flows come from 198.51.100.0/24: source ports 10000-42767,
	// then the next address.
	benchFlowBase = netip.MustParseAddrPort("198.51.100.0:10000")
)

// benchFixture is newFixture's namespace (static routes and neighbours,
// so bpf_fib_lookup succeeds) with a route for the VIP too, so that the
// floor forwards the very frames xlb gets; a dataplane sized for the
// benchmark; and tools/bench's harness programs.
type benchFixture struct {
	ns        *lab.NS
	dp        *Dataplane
	pub, farm int
	coll      *ebpf.Collection
	cfgType   *btf.Struct
}

func newBenchFixture(tb testing.TB, conntrackMax uint32) *benchFixture {
	tb.Helper()
	l := xdptest.NewLab(tb)
	ns := l.NS
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	// The floor forwards the very frames xlb gets: the VIP routes to web1.
	must(ns.AddRoute(vip.String()+"/32", benchWeb1.Addr().String()))

	dp, err := Open(Options{ConntrackMax: conntrackMax, PersistenceMax: 1024, MaxServices: 16, MaxReals: 64}, slog.New(slog.DiscardHandler))
	must(err)
	tb.Cleanup(func() { dp.Close() })

	spec, err := ebpf.LoadCollectionSpec(benchObject)
	if err != nil {
		tb.Fatalf("%v (tools/bench's object; go generate ./tools/bench)", err)
	}
	coll, err := ebpf.NewCollection(spec)
	must(err)
	tb.Cleanup(func() { coll.Close() })
	st, ok := spec.Maps["frame_cfgs"].Value.(*btf.Struct)
	if !ok {
		tb.Fatal("frame_cfgs has no BTF struct value")
	}
	f := &benchFixture{ns: ns, dp: dp, coll: coll, cfgType: st}
	f.pub, err = ns.LinkIndex("pub0")
	must(err)
	f.farm, err = ns.LinkIndex("farm0")
	must(err)
	return f
}

// service sets up svc (VIP:80 TCP unless given) with all reals available.
func (f *benchFixture) service(tb testing.TB, svc Service, reals ...netip.AddrPort) ServiceKey {
	tb.Helper()
	return setService(tb, f.dp, svc, reals...)
}

// flowPattern is how the harness varies frames: none, or a fresh
// (address, port) per run counted from the template's source.
type flowPattern struct {
	flows, ports uint32
	portBase     uint16
}

// freshFlows gives every run of a benchmark its own connection.
var freshFlows = flowPattern{flows: 1 << 23, ports: 32768, portBase: benchFlowBase.Port()}

// setFrame writes the harness's template and flow pattern. The map value
// is encoded from the object's BTF, member by member, so that a change to
// struct frame_cfg in bench.c fails here instead of writing garbage.
func (f *benchFixture) setFrame(tb testing.TB, frame []byte, proto Proto, p flowPattern) {
	tb.Helper()
	if len(frame) != benchFrameLen {
		tb.Fatalf("template is %d bytes, want %d", len(frame), benchFrameLen)
	}
	v := make([]byte, f.cfgType.Size)
	for _, m := range f.cfgType.Members {
		off := m.Offset.Bytes()
		switch m.Name {
		case "frame":
			copy(v[off:off+benchFrameLen], frame)
		case "flows":
			binary.NativeEndian.PutUint32(v[off:], p.flows)
		case "ports":
			binary.NativeEndian.PutUint32(v[off:], p.ports)
		case "port_base":
			binary.NativeEndian.PutUint16(v[off:], p.portBase)
		case "proto":
			v[off] = byte(proto)
		case "pad":
		default:
			tb.Fatalf("frame_cfg has an unknown member %q", m.Name)
		}
	}
	if err := f.coll.Maps["frame_cfgs"].Put(uint32(0), v); err != nil {
		tb.Fatal(err)
	}
}

// target makes prog the harness's tail-call target.
func (f *benchFixture) target(tb testing.TB, prog *ebpf.Program) {
	tb.Helper()
	if err := f.coll.Maps["targets"].Put(uint32(0), prog); err != nil {
		tb.Fatalf("harness target: %v", err)
	}
}

// repeat runs the harness n times on frames arriving on ifindex and
// returns the last verdict and the kernel's mean time per run.
func (f *benchFixture) repeat(tb testing.TB, ifindex int, n uint32) (uint32, time.Duration) {
	tb.Helper()
	var ret, ns uint32
	err := f.ns.Do(func() (err error) {
		ret, ns, err = testRun(f.coll.Programs["bench_harness"], make([]byte, benchFrameLen), ifindex, n)
		return err
	})
	if err != nil {
		tb.Fatalf("test run: %v", err)
	}
	return ret, time.Duration(ns)
}

// testRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr. The raw
// call gives back the kernel's own per-run time (which leaves out time the
// thread spent preempted) with a context, which ebpf.Program.Run does not.
type testRunAttr struct {
	progFD, retval, dataSizeIn, dataSizeOut uint32
	dataIn, dataOut                         uint64
	repeat, duration, ctxSizeIn, ctxSizeOut uint32
	ctxIn, ctxOut                           uint64
	flags, cpu, batchSize                   uint32
	_                                       uint32
}

func testRun(prog *ebpf.Program, data []byte, ifindex int, repeat uint32) (ret, ns uint32, err error) {
	md := xdptest.XDPMd{DataEnd: uint32(len(data)), IngressIfindex: uint32(ifindex)}
	attr := testRunAttr{
		progFD:     uint32(prog.FD()),
		dataSizeIn: uint32(len(data)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&data[0]))),
		repeat:     repeat,
		ctxSizeIn:  uint32(unsafe.Sizeof(md)),
		ctxIn:      uint64(uintptr(unsafe.Pointer(&md))),
	}
	for range 5 {
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(data)
		runtime.KeepAlive(&md)
		if errno == unix.EINTR {
			continue // a signal cut the run short: run it again
		}
		if errno != 0 {
			return 0, 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
		}
		return attr.retval, attr.duration, nil
	}
	return 0, 0, errors.New("BPF_PROG_TEST_RUN: interrupted 5 times")
}

// benchChunks is how many BPF_PROG_TEST_RUN calls a benchmark's runs
// are split into.
const benchChunks = 5

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchCase is one micro-benchmark: a dataplane state, a frame, the
// verdict every run must give and a check of the counters.
type benchCase struct {
	name         string
	conntrackMax uint32
	// setup configures the dataplane and returns the template, its
	// protocol, the ingress interface and the flow pattern.
	setup func(tb testing.TB, f *benchFixture) (frame []byte, proto Proto, ifindex int, p flowPattern)
	// floor runs tools/bench's bench_floor instead of xlb.
	floor bool
	want  uint32
	// check asserts that the n runs took the path the case is named for.
	check func(tb testing.TB, f *benchFixture, before, after benchCounters, n uint64)
}

type benchCounters struct {
	stats map[string]uint64
	svc   Traffic
	real  map[netip.AddrPort]Traffic
}

func (f *benchFixture) counters(tb testing.TB, key ServiceKey) benchCounters {
	tb.Helper()
	c := benchCounters{real: map[netip.AddrPort]Traffic{}}
	var err error
	if c.stats, err = f.dp.Counters(); err != nil {
		tb.Fatal(err)
	}
	if !key.Addr.IsValid() {
		return c
	}
	if c.svc, err = f.dp.ServiceTraffic(key); err != nil {
		tb.Fatal(err)
	}
	for _, r := range []netip.AddrPort{benchWeb1, benchWeb2} {
		if c.real[r], err = f.dp.RealTraffic(key, r); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

func wantDelta(tb testing.TB, what string, before, after, want uint64) {
	tb.Helper()
	if got := after - before; got != want {
		tb.Fatalf("%s went up by %d over the runs, want %d: the benchmark did not measure the path it names", what, got, want)
	}
}

var benchTCPService = ServiceKey{Addr: vip, Port: 80, Proto: TCP}

// benchCases are the paths issue 8 names. Frames are 60 bytes.
func benchCases() []benchCase {
	client := netip.MustParseAddrPort("198.51.100.7:40000")
	synFrom := func(tb testing.TB, src netip.AddrPort) []byte {
		return pad60(tb, xdptest.Frame{Src: src, Dst: vip80, Flags: "S"})
	}
	established := func(tb testing.TB, f *benchFixture, proto Proto) []byte {
		key := benchTCPService
		key.Proto = proto
		f.service(tb, Service{Key: key, Sched: SchedRR}, benchWeb1, benchWeb2)
		first := xdptest.Frame{Src: client, Dst: vip80, Proto: uint8(proto), Flags: "S"}
		if ret, _ := f.once(tb, pad60(tb, first), f.pub); ret != xdptest.Redirect {
			tb.Fatalf("first packet: verdict %s", xdptest.VerdictName(ret))
		}
		flags := ""
		if proto == TCP {
			flags = "A"
		}
		return pad60(tb, xdptest.Frame{Src: client, Dst: vip80, Proto: uint8(proto), Flags: flags, Payload: []byte("GET")})
	}
	fwd := func(tb testing.TB, _ *benchFixture, b, a benchCounters, n uint64) {
		wantDelta(tb, "fwd_redirect", b.stats["fwd_redirect"], a.stats["fwd_redirect"], n)
	}
	return []benchCase{
		{
			name: "floor_fib_redirect",
			setup: func(tb testing.TB, f *benchFixture) ([]byte, Proto, int, flowPattern) {
				return pad60(tb, xdptest.Frame{Src: client, Dst: vip80, Flags: "A", Payload: []byte("GET")}), TCP, f.pub, flowPattern{}
			},
			floor: true,
			want:  xdptest.Redirect,
		},
		{
			name: "tcp_established",
			setup: func(tb testing.TB, f *benchFixture) ([]byte, Proto, int, flowPattern) {
				return established(tb, f, TCP), TCP, f.pub, flowPattern{}
			},
			want: xdptest.Redirect,
			check: func(tb testing.TB, f *benchFixture, b, a benchCounters, n uint64) {
				fwd(tb, f, b, a, n)
				wantDelta(tb, "new connections", b.svc.Conns, a.svc.Conns, 0)
			},
		},
		{
			name: "udp_established",
			setup: func(tb testing.TB, f *benchFixture) ([]byte, Proto, int, flowPattern) {
				return established(tb, f, UDP), UDP, f.pub, flowPattern{}
			},
			want:  xdptest.Redirect,
			check: fwd,
		},
		{
			name:         "tcp_new_flow_syn",
			conntrackMax: 1 << 21,
			setup: func(tb testing.TB, f *benchFixture) ([]byte, Proto, int, flowPattern) {
				f.service(tb, Service{Sched: SchedRR}, benchWeb1, benchWeb2)
				return synFrom(tb, benchFlowBase), TCP, f.pub, freshFlows
			},
			want: xdptest.Redirect,
			check: func(tb testing.TB, f *benchFixture, b, a benchCounters, n uint64) {
				fwd(tb, f, b, a, n)
				wantDelta(tb, "new connections", b.svc.Conns, a.svc.Conns, n)
			},
		},
		{
			name:         "tcp_persistence_hit",
			conntrackMax: 1 << 21,
			setup: func(tb testing.TB, f *benchFixture) ([]byte, Proto, int, flowPattern) {
				// persistence_granularity 255.255.255.0: every fresh
				// client of 198.51.100.0/24 is one template's.
				f.service(tb, Service{Sched: SchedRR, PersistTimeout: 300 * time.Second, PersistPrefix: 24}, benchWeb1, benchWeb2)
				// From an address the fresh flows don't use.
				first := netip.MustParseAddrPort("198.51.100.250:40000")
				if ret, _ := f.once(tb, synFrom(tb, first), f.pub); ret != xdptest.Redirect {
					tb.Fatalf("template packet: verdict %s", xdptest.VerdictName(ret))
				}
				return synFrom(tb, benchFlowBase), TCP, f.pub, freshFlows
			},
			want: xdptest.Redirect,
			check: func(tb testing.TB, f *benchFixture, b, a benchCounters, n uint64) {
				fwd(tb, f, b, a, n)
				wantDelta(tb, "new connections", b.svc.Conns, a.svc.Conns, n)
				// rr would alternate; the template keeps them on web1.
				wantDelta(tb, "web1's new connections", b.real[benchWeb1].Conns, a.real[benchWeb1].Conns, n)
			},
		},
		{
			name: "tcp_reverse_snat",
			setup: func(tb testing.TB, f *benchFixture) ([]byte, Proto, int, flowPattern) {
				established(tb, f, TCP)
				return pad60(tb, xdptest.Frame{Src: benchWeb1, Dst: client, Flags: "A", Payload: []byte("200")}), TCP, f.farm, flowPattern{}
			},
			want: xdptest.Redirect,
			check: func(tb testing.TB, f *benchFixture, b, a benchCounters, n uint64) {
				fwd(tb, f, b, a, n)
				wantDelta(tb, "web1's packets out", b.real[benchWeb1].PacketsOut, a.real[benchWeb1].PacketsOut, n)
			},
		},
		{
			name: "pass_through",
			setup: func(tb testing.TB, f *benchFixture) ([]byte, Proto, int, flowPattern) {
				f.service(tb, Service{Sched: SchedRR}, benchWeb1, benchWeb2)
				ssh := netip.MustParseAddrPort("203.0.113.2:22")
				return pad60(tb, xdptest.Frame{Src: client, Dst: ssh, Flags: "A"}), TCP, f.pub, flowPattern{}
			},
			want: xdptest.Pass,
			check: func(tb testing.TB, _ *benchFixture, b, a benchCounters, n uint64) {
				wantDelta(tb, "pass_not_service", b.stats["pass_not_service"], a.stats["pass_not_service"], n)
			},
		},
	}
}

// once runs the program under test (not the harness) on one frame.
func (f *benchFixture) once(tb testing.TB, in []byte, ifindex int) (uint32, []byte) {
	tb.Helper()
	var ret uint32
	data := append([]byte(nil), in...)
	err := f.ns.Do(func() (err error) {
		ret, _, err = testRun(f.dp.Program(), data, ifindex, 1)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ret, data
}

// pad60 builds the frame and pads it with trailing bytes (Ethernet
// padding, which IPv4's total length excludes) to the harness's size.
func pad60(tb testing.TB, fr xdptest.Frame) []byte {
	tb.Helper()
	b := fr.Bytes(tb)
	if len(b) > benchFrameLen {
		tb.Fatalf("frame is %d bytes, more than %d", len(b), benchFrameLen)
	}
	return append(b, make([]byte, benchFrameLen-len(b))...)
}

// BenchmarkDataplane reports, per path, the kernel's time per run of the
// program under test (ns/pkt), the harness overhead subtracted from it and
// the gross time. Use -benchtime Nx with N ≥ 1000000: the benchmark makes
// one BPF_PROG_TEST_RUN call with Repeat = N. ns/op is the wall-clock time
// of that call per run (harness and syscall included).
func BenchmarkDataplane(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			b.StopTimer()
			ct := c.conntrackMax
			if ct == 0 {
				ct = 4096
			}
			if c.conntrackMax != 0 && uint32(b.N)*2 > ct {
				ct = uint32(b.N) * 2 // fresh flows never evict one another
			}
			f := newBenchFixture(b, ct)
			frame, proto, ifindex, p := c.setup(b, f)
			key := ServiceKey{}
			if !c.floor {
				key = benchTCPService
				key.Proto = proto
			}
			f.setFrame(b, frame, proto, p)

			f.target(b, f.coll.Programs["bench_nop"])
			if ret, _ := f.repeat(b, ifindex, 1); ret != xdptest.Drop {
				b.Fatalf("harness with bench_nop: verdict %s", xdptest.VerdictName(ret))
			}
			prog := f.dp.Program()
			if c.floor {
				prog = f.coll.Programs["bench_floor"]
			}
			// The machine is shared: measure in benchChunks slices,
			// the harness alone and the program in turn, and keep the
			// medians, so that a burst of other work lands in one
			// slice of either and moves neither median much.
			before := f.counters(b, key)
			var bases, grosses []time.Duration
			for i := range benchChunks {
				n := uint32(b.N) / benchChunks
				if i == 0 {
					n += uint32(b.N) % benchChunks
				}
				if n == 0 {
					continue
				}
				f.target(b, f.coll.Programs["bench_nop"])
				_, base := f.repeat(b, ifindex, n)
				f.target(b, prog)
				b.StartTimer()
				ret, gross := f.repeat(b, ifindex, n)
				b.StopTimer()
				if ret != c.want {
					b.Fatalf("verdict %s, want %s", xdptest.VerdictName(ret), xdptest.VerdictName(c.want))
				}
				bases, grosses = append(bases, base), append(grosses, gross)
			}
			if c.check != nil {
				c.check(b, f, before, f.counters(b, key), uint64(b.N))
			}
			base, gross := median(bases), median(grosses)
			b.ReportMetric(float64(gross-base), "ns/pkt")
			b.ReportMetric(float64(base), "harness-ns/pkt")
			b.ReportMetric(float64(gross), "gross-ns/pkt")
		})
	}
}

// TestBenchHarness checks what the micro-benchmarks rely on: through the
// harness, every repeated run of xlb sees the original frame (or a fresh
// flow), and the floor forwards the frames xlb gets to the real's MAC.
func TestBenchHarness(t *testing.T) {
	f := newBenchFixture(t, 4096)
	key := f.service(t, Service{Sched: SchedRR}, benchWeb1, benchWeb2)
	client := netip.MustParseAddrPort("198.51.100.7:40000")
	syn := pad60(t, xdptest.Frame{Src: client, Dst: vip80, Flags: "S"})

	f.setFrame(t, syn, TCP, flowPattern{})
	f.target(t, f.dp.Program())
	before := f.counters(t, key)
	if ret, _ := f.repeat(t, f.pub, 100); ret != xdptest.Redirect {
		t.Fatalf("verdict %s", xdptest.VerdictName(ret))
	}
	after := f.counters(t, key)
	wantDelta(t, "fwd_redirect", before.stats["fwd_redirect"], after.stats["fwd_redirect"], 100)
	wantDelta(t, "new connections (same tuple)", before.svc.Conns, after.svc.Conns, 1)

	fresh := pad60(t, xdptest.Frame{Src: benchFlowBase, Dst: vip80, Flags: "S"})
	f.setFrame(t, fresh, TCP, flowPattern{flows: 1000, ports: 300, portBase: 20000})
	before = after
	f.repeat(t, f.pub, 1000)
	after = f.counters(t, key)
	wantDelta(t, "new connections (fresh tuples)", before.svc.Conns, after.svc.Conns, 1000)
	cs, err := f.dp.Conns(func(c *Conn) bool { return c.Client.Addr() != client.Addr() }, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1000 {
		t.Fatalf("%d fresh connections tracked, want 1000", len(cs))
	}
	seen := map[netip.AddrPort]bool{}
	for _, c := range cs {
		seen[c.Client] = true
		a := c.Client.Addr().As4()
		if a[0] != 198 || a[1] != 51 || a[2] != 100 || a[3] > 3 || c.Client.Port() < 20000 || c.Client.Port() >= 20300 {
			t.Fatalf("fresh client %s outside the pattern", c.Client)
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct clients, want 1000", len(seen))
	}

	// The harness's rewritten frames carry correct checksums: run the
	// harness with the floor and check what comes out.
	f.target(t, f.coll.Programs["bench_floor"])
	out := make([]byte, benchFrameLen)
	err = f.ns.Do(func() error {
		opts := ebpf.RunOptions{Data: make([]byte, benchFrameLen), DataOut: out, Context: xdptest.XDPMd{DataEnd: benchFrameLen, IngressIfindex: uint32(f.pub)}}
		ret, err := f.coll.Programs["bench_harness"].Run(&opts)
		if err == nil && ret != xdptest.Redirect {
			err = fmt.Errorf("floor verdict %s", xdptest.VerdictName(ret))
		}
		out = opts.DataOut
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	xdptest.CheckChecksums(t, out)
	d := xdptest.Decode(t, out)
	if d.Dst != vip80 || d.DstMAC.String() != xdptest.MACWeb1.String() || d.TTL != 63 {
		t.Fatalf("floor output: to %s via %s ttl %d, want %s via %s ttl 63", d.Dst, d.DstMAC, d.TTL, vip80, xdptest.MACWeb1)
	}
}
