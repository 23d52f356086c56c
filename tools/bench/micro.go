package main

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// microCommand is how part 1 runs: the loader's benchmarks, one
// BPF_PROG_TEST_RUN call per chunk with Repeat = repeat / 5 runs.
func microCommand(repeat int) []string {
	return []string{"go", "test", "-run", "^$", "-bench", "^BenchmarkDataplane$", "-benchtime", fmt.Sprintf("%dx", repeat), "-count", "1", "./loader/"}
}

var benchLine = regexp.MustCompile(`^BenchmarkDataplane/(\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

// parseMicro reads `go test -bench` output: for each case, its ns/pkt and
// harness-ns/pkt metrics.
func parseMicro(out string, repeat int) (*microResults, error) {
	r := &microResults{Repeat: repeat, NsPerPkt: map[string]float64{}, HarnessNs: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: metric %q: %w", m[1], f[i], err)
			}
			switch f[i+1] {
			case "ns/pkt":
				r.NsPerPkt[m[1]] = v
			case "harness-ns/pkt":
				r.HarnessNs[m[1]] = v
			}
		}
	}
	if len(r.NsPerPkt) == 0 {
		return nil, fmt.Errorf("no BenchmarkDataplane results in the output:\n%s", out)
	}
	return r, nil
}
