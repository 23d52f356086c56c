package sync

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/xlb/xlb/loader"
)

// benchSizes hold a benchmark's connections without LRU eviction up to
// b.N = 200000 new connections.
var benchSizes = loader.Options{ConntrackMax: 1 << 18, PersistenceMax: 4096, MaxServices: 16, MaxReals: 64}

// BenchmarkFastPath measures what sync events cost the XDP program:
// ns/pkt as the kernel times BPF_PROG_TEST_RUN (syscall excluded), with
// the dataplane loaded with and without SyncEvents. With them on, a
// goroutine drains the ring as the Syncer does. Cases: a new TCP
// connection (a SYN of a new tuple: conntrack insert and a ring event),
// and packets of an established connection in (client to VIP, DNAT) and
// out (real to client, SNAT), which report nothing.
//
//	go test -run '^$' -bench FastPath -benchtime 100000x ./internal/sync
func BenchmarkFastPath(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "sync=off"
		if on {
			name = "sync=on"
		}
		b.Run(name, func(b *testing.B) {
			sizes := benchSizes
			sizes.SyncEvents = on
			d := newDirector(b, sizes, false)
			if on {
				drain(b, d.dp)
			}
			r := d.runner()
			vip := netip.AddrPortFrom(labVIP, 80)

			b.Run("new_conn", func(b *testing.B) {
				frames := make([][]byte, b.N)
				for i := range frames {
					frames[i] = frame(b, loader.TCP, benchClient(i), vip, "S")
				}
				b.ResetTimer()
				b.ReportMetric(r.timeRuns(b, frames, r.d.pub), "ns/pkt")
			})

			client := netip.MustParseAddrPort("198.51.100.254:1234")
			for _, fl := range []string{"S", "A"} {
				if v, _, err := r.run(frame(b, loader.TCP, client, vip, fl), r.d.pub, 1); err != nil || v != xdpRedirect {
					b.Fatalf("handshake: verdict %d: %v", v, err)
				}
			}
			cs, err := d.dp.Conns(func(c *loader.Conn) bool { return c.Client == client }, 1)
			if err != nil || len(cs) != 1 || cs[0].State != "ESTABLISHED" {
				b.Fatalf("established connection: %+v %v", cs, err)
			}
			for _, tc := range []struct {
				name    string
				in      []byte
				ifindex int
			}{
				{"established_in", frame(b, loader.TCP, client, vip, "A"), r.d.pub},
				{"established_out", frame(b, loader.TCP, cs[0].Real, client, "A"), r.d.farm},
			} {
				b.Run(tc.name, func(b *testing.B) {
					frames := make([][]byte, b.N)
					for i := range frames {
						frames[i] = tc.in
					}
					b.ResetTimer()
					b.ReportMetric(r.timeRuns(b, frames, tc.ifindex), "ns/pkt")
				})
			}
		})
	}
}

// timeRuns runs the program once on each frame, on one thread in the
// director's namespace, and returns the kernel's mean ns per run. Every
// run must redirect.
func (r *runner) timeRuns(b *testing.B, frames [][]byte, ifindex int) float64 {
	var total time.Duration
	err := r.d.ns.Do(func() error {
		for _, f := range frames {
			v, d, err := r.runHere(f, ifindex, 1)
			if err != nil {
				return err
			}
			if v != xdpRedirect {
				return fmt.Errorf("verdict %d, want redirect", v)
			}
			total += d
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return float64(total.Nanoseconds()) / float64(len(frames))
}

// benchClient is the i-th client of a benchmark: 250 addresses, 60000
// ports each, so 15 million distinct tuples.
func benchClient(i int) netip.AddrPort {
	i %= 250 * 60000
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%250)}), uint16(1024+i/250))
}

// drain reads and drops the dataplane's sync events until the test
// ends, as a Syncer reads them.
func drain(tb testing.TB, dp *loader.Dataplane) {
	rd, err := dp.SyncReader()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = drainEvents(ctx, rd, defaultTuning().eventBatch, func(loader.SyncEvent, error) {})
	}()
	tb.Cleanup(func() { cancel(); rd.Close(); <-done })
}

// BenchmarkBulkTransfer measures a backup (re)starting against a master
// with a full table: two real dataplanes in their namespaces, UDP over
// the veth between them, no max_rate. Each iteration is a new backup
// syncer converging: the master snapshots and sends the whole table,
// the backup installs it into its own maps. Reports entries/s.
//
//	go test -run '^$' -bench BulkTransfer -benchtime 5x ./internal/sync
func BenchmarkBulkTransfer(b *testing.B) {
	const conns = 20000
	sizes := benchSizes
	sizes.SyncEvents = true
	ds := newDirectors(b, sizes)
	master, backup := ds[0], ds[1]
	for i := range conns {
		c := benchConn(i)
		if err := master.dp.InstallConn(c); err != nil {
			b.Fatal(err)
		}
		if i < 250 {
			t := loader.Template{Service: labTCP.Key, Client: c.Client.Addr(), Real: c.Real}
			if err := master.dp.InstallTemplate(t); err != nil {
				b.Fatal(err)
			}
		}
	}
	cfg := func(i int) Config {
		return Config{Interface: "sync0", Peers: []netip.Addr{syncAddr[1-i]}, LocalAddr: syncAddr[i], Key: testKey}
	}
	ms := labNode(b, master, cfg(0))
	ms.tune.bulkGap = 0 // a snapshot per iteration
	ms.SetMaster(true)
	runNode(b, ms)
	b.ResetTimer()
	var entries uint64
	var took time.Duration
	for range b.N {
		bs := labNode(b, backup, cfg(1))
		start := time.Now()
		stop := runNode(b, bs)
		for !bs.Converged() {
			time.Sleep(time.Millisecond)
		}
		took += time.Since(start)
		st := bs.Status()
		entries += st.InstalledEntries
		stop()
	}
	b.ReportMetric(float64(entries)/took.Seconds(), "installed_entries/s")
	b.ReportMetric(float64(ms.Status().BulkAborted), "aborted_transfers")
}

// benchConn is the i-th connection of a benchmark, to the lab's TCP
// service.
func benchConn(i int) loader.Conn {
	return loader.Conn{Proto: loader.TCP, Client: benchClient(i), VIP: netip.AddrPortFrom(labVIP, 80),
		Real: netip.AddrPortFrom([]netip.Addr{labWeb1, labWeb2}[i%2], 80), State: []string{"ESTABLISHED", "SYN_RECV", "FIN_WAIT"}[i%3]}
}

// BenchmarkChanges measures changes flowing: the master's XDP program
// makes new TCP connections (as fast as BPF_PROG_TEST_RUN goes, one
// syscall each, from a thread in its namespace), the master reads their events, batches and sends them,
// and the backup installs them. Reports connections/s made, and
// entries/s sent and installed (a connection and, for a new client, its
// template), timed from the first connection to the last installed.
//
//	go test -run '^$' -bench Changes -benchtime 20000x ./internal/sync
func BenchmarkChanges(b *testing.B) {
	sizes := benchSizes
	sizes.SyncEvents = true
	ds := newDirectors(b, sizes)
	master, backup := ds[0], ds[1]
	cfg := func(i int) Config {
		return Config{Interface: "sync0", Peers: []netip.Addr{syncAddr[1-i]}, LocalAddr: syncAddr[i], Key: testKey}
	}
	ms := labNode(b, master, cfg(0))
	ms.SetMaster(true)
	runNode(b, ms)
	bs := labNode(b, backup, cfg(1))
	runNode(b, bs)
	for !bs.Converged() {
		time.Sleep(time.Millisecond)
	}
	r := master.runner()
	vip := netip.AddrPortFrom(labVIP, 80)
	frames := make([][]byte, b.N)
	for i := range frames {
		frames[i] = frame(b, loader.TCP, benchClient(i), vip, "S")
	}
	before := bs.Status().InstalledEntries
	sentBefore := ms.Status().SentEntries
	b.ResetTimer()
	start := time.Now()
	r.timeRuns(b, frames, r.d.pub)
	made := time.Since(start)
	want := uint64(b.N) + uint64(min(b.N, 250)) // connections and templates
	deadline := time.Now().Add(30 * time.Second)
	for bs.Status().InstalledEntries-before < want {
		if time.Now().After(deadline) {
			b.Fatalf("installed %d of %d entries; master %+v; backup %+v", bs.Status().InstalledEntries-before, want, ms.Status(), bs.Status())
		}
		time.Sleep(100 * time.Microsecond)
	}
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/made.Seconds(), "conns_made/s")
	b.ReportMetric(float64(ms.Status().SentEntries-sentBefore)/took.Seconds(), "sent_entries/s")
	b.ReportMetric(float64(bs.Status().InstalledEntries-before)/took.Seconds(), "installed_entries/s")
	if st := bs.Status(); st.Gaps != 0 || st.Rejected.Total() != 0 {
		b.Logf("backup lost messages: %+v", st)
	}
}

// BenchmarkChangesCapacity measures how many changes the sync pipeline
// carries when the source is not the limit: the master's events come
// from an in-memory dataplane as fast as the backup keeps up (the
// generator waits when the ring is full, it loses nothing), over UDP on
// the veth, into the backup's real dataplane. Reports entries/s sent and
// installed.
//
//	go test -run '^$' -bench ChangesCapacity -benchtime 100000x ./internal/sync
func BenchmarkChangesCapacity(b *testing.B) {
	sizes := benchSizes
	sizes.SyncEvents = true
	ds := newDirectors(b, sizes)
	fdp := newFakeDP(1 << 16)
	cfg := func(i int) Config {
		return Config{Interface: "sync0", Peers: []netip.Addr{syncAddr[1-i]}, LocalAddr: syncAddr[i], Key: testKey}
	}
	var ms *Syncer
	if err := ds[0].ns.Do(func() (err error) {
		ms, err = New(cfg(0), fdp, testLogger(b))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	ms.SetMaster(true)
	runNode(b, ms)
	bs := labNode(b, ds[1], cfg(1))
	runNode(b, bs)
	for !bs.Converged() {
		time.Sleep(time.Millisecond)
	}
	before := bs.Status().InstalledEntries
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		fdp.ring <- loader.SyncEvent{Kind: loader.SyncConnNew, Conn: benchConn(i)}
	}
	deadline := time.Now().Add(60 * time.Second)
	for bs.Status().InstalledEntries-before < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("installed %d of %d; master %+v; backup %+v", bs.Status().InstalledEntries-before, b.N, ms.Status(), bs.Status())
		}
		time.Sleep(100 * time.Microsecond)
	}
	took := time.Since(start)
	b.StopTimer()
	st := bs.Status()
	b.ReportMetric(float64(ms.Status().SentEntries)/took.Seconds(), "sent_entries/s")
	b.ReportMetric(float64(st.InstalledEntries-before)/took.Seconds(), "installed_entries/s")
	b.ReportMetric(float64(st.Gaps), "gaps")
}
