package loader

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// enumNames reads an enum's value names from the dataplane's BTF, lower
// case and without the given prefix: the C enum stays the only list.
func enumNames(spec *ebpf.CollectionSpec, name, prefix string) (map[uint64]string, error) {
	var e *btf.Enum
	if err := spec.Types.TypeByName(name, &e); err != nil {
		return nil, fmt.Errorf("enum %s: %w", name, err)
	}
	names := make(map[uint64]string, len(e.Values))
	for _, v := range e.Values {
		names[v.Value] = strings.ToLower(strings.TrimPrefix(v.Name, prefix))
	}
	return names, nil
}

// Counters returns the frame verdict counters (enum stat_id) summed over
// CPUs, by name: "fwd_redirect", "drop_truncated", ...
func (d *Dataplane) Counters() (map[string]uint64, error) {
	out := make(map[string]uint64, len(d.statNames))
	var per []uint64
	for id, name := range d.statNames {
		if id >= uint64(xlbStatIdSTAT_MAX) {
			continue
		}
		if err := d.objs.Stats.Lookup(uint32(id), &per); err != nil {
			return nil, fmt.Errorf("read stats %s: %w", name, err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	return out, nil
}

// Traffic is what went through a service or a real.
type Traffic struct {
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	// Conns counts connections scheduled.
	Conns uint64
}

// ServiceTraffic sums a service's per-CPU counters.
func (d *Dataplane) ServiceTraffic(key ServiceKey) (Traffic, error) {
	d.mu.Lock()
	s, ok := d.services[key]
	d.mu.Unlock()
	if !ok {
		return Traffic{}, fmt.Errorf("%s: %w", key, ErrUnknownService)
	}
	var per []xlbServiceCounters
	if err := d.objs.ServiceStats.Lookup(s.id, &per); err != nil {
		return Traffic{}, fmt.Errorf("read service_stats of %s: %w", key, err)
	}
	var t Traffic
	for _, c := range per {
		t.PacketsIn += c.PacketsIn
		t.BytesIn += c.BytesIn
		t.PacketsOut += c.PacketsOut
		t.BytesOut += c.BytesOut
		t.Conns += c.Conns
	}
	return t, nil
}

func (d *Dataplane) realCounters(id uint32) (xlbRealCounters, error) {
	var per []xlbRealCounters
	if err := d.objs.RealStats.Lookup(id, &per); err != nil {
		return xlbRealCounters{}, fmt.Errorf("read real_stats %d: %w", id, err)
	}
	var sum xlbRealCounters
	for _, c := range per {
		sum.PacketsIn += c.PacketsIn
		sum.BytesIn += c.BytesIn
		sum.PacketsOut += c.PacketsOut
		sum.BytesOut += c.BytesOut
		sum.Conns += c.Conns
		sum.ConnsEstablished += c.ConnsEstablished
		sum.ConnsEstClosed += c.ConnsEstClosed
	}
	return sum, nil
}

// RealTraffic sums a real's per-CPU counters.
func (d *Dataplane) RealTraffic(key ServiceKey, real netip.AddrPort) (Traffic, error) {
	id, err := d.realID(key, real)
	if err != nil {
		return Traffic{}, err
	}
	c, err := d.realCounters(id)
	if err != nil {
		return Traffic{}, err
	}
	return Traffic{PacketsIn: c.PacketsIn, BytesIn: c.BytesIn, PacketsOut: c.PacketsOut, BytesOut: c.BytesOut, Conns: c.Conns}, nil
}

func (d *Dataplane) realID(key ServiceKey, real netip.AddrPort) (uint32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.services[key]
	if !ok {
		return 0, fmt.Errorf("%s: %w", key, ErrUnknownService)
	}
	id, ok := s.members[real]
	if !ok {
		return 0, fmt.Errorf("service %s has no real %s", key, real)
	}
	return id, nil
}

// zeroCounters clears the per-CPU counters of a freshly allocated id, so
// that it does not inherit its previous owner's.
func (d *Dataplane) zeroCounters(m *ebpf.Map, id uint32, zero any) error {
	if err := m.Put(id, zero); err != nil {
		return fmt.Errorf("reset counters %d: %w", id, err)
	}
	return nil
}
