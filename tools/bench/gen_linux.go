package main

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xlb/xlb/internal/lab"
)

// generator sends frames from the generator's veth with BPF_PROG_RUN in
// live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES): bench_gen rewrites each
// frame from the template, moves to the next flow and returns XDP_TX,
// which the kernel turns into a transmit on the ingress interface. One
// long call per run, on one thread pinned to one CPU; Stop interrupts it
// with a signal to that thread (the kernel returns EINTR at the next
// batch), which ebpf.Program.Run would retry, hence the raw call.
type generator struct {
	stop atomic.Bool
	tid  atomic.Int32
	done chan error
}

// maxRepeat bounds one call even if no signal ever arrived: at the ~15 Mpps
// one core generates, about 20 s.
const maxRepeat = 300_000_000

// startGenerator starts generating on cpu from ns's interface ifindex.
func startGenerator(ns *lab.NS, prog *ebpf.Program, ifindex, cpu int) (*generator, error) {
	g := &generator{done: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		// The thread changes namespace and affinity: it is never given
		// back to the runtime (no UnlockOSThread), so it exits with us.
		runtime.LockOSThread()
		if err := netns.Set(ns.Handle()); err != nil {
			ready <- fmt.Errorf("generator: enter %s: %w", ns.Name, err)
			return
		}
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			ready <- fmt.Errorf("generator: pin to cpu %d: %w", cpu, err)
			return
		}
		g.tid.Store(int32(unix.Gettid()))
		ready <- nil
		data := make([]byte, frameLen)
		for !g.stop.Load() {
			_, _, err := testRun(prog, data, ifindex, maxRepeat, unix.BPF_F_TEST_XDP_LIVE_FRAMES)
			if err != nil && !errors.Is(err, unix.EINTR) {
				g.done <- fmt.Errorf("generator: live-frame run: %w", err)
				return
			}
		}
		g.done <- nil
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return g, nil
}

// Stop ends the run and waits for the generating thread.
func (g *generator) Stop() error {
	g.stop.Store(true)
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// SIGURG: the Go runtime handles it (its preemption signal) and
		// it interrupts the run; repeated until the thread notices.
		_ = unix.Tgkill(unix.Getpid(), int(g.tid.Load()), unix.SIGURG)
		select {
		case err := <-g.done:
			return err
		case <-tick.C:
		case <-deadline:
			return errors.New("generator did not stop in 5 s")
		}
	}
}
