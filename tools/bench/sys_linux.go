package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// xdpMd is struct xdp_md, the context of an XDP test run.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// testRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr. The raw
// call is needed twice: ebpf.Program.Run retries on EINTR, so a live-frame
// run could not be stopped by a signal, and it does not return the
// kernel's per-run time.
type testRunAttr struct {
	progFD, retval, dataSizeIn, dataSizeOut uint32
	dataIn, dataOut                         uint64
	repeat, duration, ctxSizeIn, ctxSizeOut uint32
	ctxIn, ctxOut                           uint64
	flags, cpu, batchSize                   uint32
	_                                       uint32
}

// testRun runs prog repeat times on data as if received on ifindex, once
// (EINTR is returned to the caller). It returns the last verdict and the
// kernel's mean time per run in ns.
func testRun(prog *ebpf.Program, data []byte, ifindex int, repeat, flags uint32) (ret, ns uint32, err error) {
	md := xdpMd{DataEnd: uint32(len(data)), IngressIfindex: uint32(ifindex)}
	attr := testRunAttr{
		progFD:     uint32(prog.FD()),
		dataSizeIn: uint32(len(data)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&data[0]))),
		repeat:     repeat,
		ctxSizeIn:  uint32(unsafe.Sizeof(md)),
		ctxIn:      uint64(uintptr(unsafe.Pointer(&md))),
		flags:      flags,
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(data)
	runtime.KeepAlive(&md)
	if errno != 0 {
		return 0, 0, errno
	}
	return attr.retval, attr.duration, nil
}

// testRunRetry is testRun that runs again when a signal cut it short.
func testRunRetry(prog *ebpf.Program, data []byte, ifindex int, repeat uint32) (ret, ns uint32, err error) {
	for range 5 {
		ret, ns, err = testRun(prog, data, ifindex, repeat, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", err)
	}
	return ret, ns, nil
}

// napiThread finds the kernel thread of ifname's threaded NAPI (comm
// "napi/<ifname>-<napi id>"; interface names are unique to this run).
func napiThread(ifname string) (int, error) {
	prefix := "napi/" + ifname + "-"
	if len(prefix) > 15 {
		return 0, fmt.Errorf("interface name %s too long to find its NAPI thread", ifname)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(string(comm)), prefix) {
			found = append(found, pid)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("no NAPI thread for %s (threaded NAPI off?)", ifname)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%d NAPI threads for %s, want 1", len(found), ifname)
}

// waitNAPIThread waits for ifname's NAPI thread to appear.
func waitNAPIThread(ifname string) (int, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		pid, err := napiThread(ifname)
		if err == nil || time.Now().After(deadline) {
			return pid, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// taskSched is the CPU time a task (thread) has run and the number of
// times it was scheduled in, from /proc/PID/schedstat (or
// /proc/PID/task/TID/schedstat).
func taskSched(path string) (time.Duration, uint64, error) {
	b, err := os.ReadFile(filepath.Join(path, "schedstat"))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, 0, fmt.Errorf("%s/schedstat: %q", path, b)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s/schedstat: %w", path, err)
	}
	n, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s/schedstat: %w", path, err)
	}
	return time.Duration(ns), n, nil
}

func taskCPU(path string) (time.Duration, error) {
	d, _, err := taskSched(path)
	return d, err
}

// threadSched is taskSched of a thread.
func threadSched(pid int) (time.Duration, uint64, error) {
	return taskSched(filepath.Join("/proc", strconv.Itoa(pid)))
}

// threadCPU is a thread's CPU time.
func threadCPU(pid int) (time.Duration, error) {
	return taskCPU(filepath.Join("/proc", strconv.Itoa(pid)))
}

// processCPU sums the CPU time of every thread of a process.
func processCPU(pid int) (time.Duration, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, e := range entries {
		d, err := taskCPU(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // the thread ended
		}
		sum += d
	}
	return sum, nil
}

// pinTask restricts a thread (or process's threads with all=true) to cpus.
func pinTask(pid int, all bool, cpus ...int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tids := []int{pid}
	if all {
		var err error
		if tids, err = threadIDs(pid); err != nil {
			return err
		}
	}
	for _, tid := range tids {
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin task %d to cpus %v: %w", tid, cpus, err)
		}
	}
	return nil
}

func threadIDs(pid int) ([]int, error) {
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// setFIFO gives a thread real-time priority (SCHED_FIFO 50).
func setFIFO(pid int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 50}
	if err := unix.SchedSetAttr(pid, &attr, 0); err != nil {
		return fmt.Errorf("SCHED_FIFO for %d: %w", pid, err)
	}
	return nil
}

// allCPUs lists the CPUs this process may run on at start.
func allCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return []int{0}
	}
	var cpus []int
	for i := range runtime.NumCPU() * 4 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// cpuModel is /proc/cpuinfo's first "model name".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return string(bytes.TrimRight(u.Release[:], "\x00"))
}
