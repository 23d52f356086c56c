package main

// cfg is the BPF map value for a template and pattern.
func (t template) cfg(p pattern) (benchFrameCfg, error) {
	b, err := t.bytes()
	if err != nil {
		return benchFrameCfg{}, err
	}
	c := benchFrameCfg{Flows: p.flows, Ports: p.ports, PortBase: p.portBase, Proto: t.proto}
	copy(c.Frame[:], b)
	return c, nil
}
