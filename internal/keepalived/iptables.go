package keepalived

import (
	"fmt"
	"net/netip"
	"strings"
)

// Rules are what the importer takes from an iptables-save file: its
// masquerade rules; every other rule and policy is a finding.
type Rules struct {
	Name       string // the file, as named
	Masquerade []Masquerade
	// Findings list the rules and policies not translated, in file order.
	Findings []Finding
}

// Masquerade is one "-t nat -A POSTROUTING [-s SOURCE] -o IF -j MASQUERADE"
// rule.
type Masquerade struct {
	Pos          Pos
	Rule         string       // the rule as written
	Source       netip.Prefix // zero: any source
	OutInterface string
	Comments     []string // comment lines before the rule, and its -m comment
}

// ParseIPTables reads an iptables-save file. Syntax errors (a rule outside
// a *table section, an unterminated quote) are returned as *Error values.
func ParseIPTables(name string, data []byte) (*Rules, error) {
	r := &Rules{Name: name}
	var (
		errs     []error
		tbl      string
		policies = map[string]string{} // "table/chain" → policy
		comments []string
	)
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i, raw := range lines {
		pos := Pos{File: name, Line: i + 1}
		s := strings.TrimSpace(raw)
		switch {
		case s == "":
			comments = nil
			continue
		case strings.HasPrefix(s, "#"):
			comments = append(comments, strings.TrimPrefix(s, "#"))
			continue
		case strings.HasPrefix(s, "*"):
			tbl = strings.TrimSpace(s[1:])
			if tbl == "" {
				errs = append(errs, &Error{Pos: pos, Msg: "expected a table name after '*'"})
			}
		case s == "COMMIT":
			if tbl == "" {
				errs = append(errs, &Error{Pos: pos, Msg: "COMMIT outside a *table section"})
			}
			tbl = ""
		case strings.HasPrefix(s, ":"):
			f := strings.Fields(s[1:])
			if tbl == "" || len(f) < 2 {
				errs = append(errs, &Error{Pos: pos, Msg: "expected ':CHAIN POLICY [PACKETS:BYTES]' inside a *table section"})
				break
			}
			policies[tbl+"/"+f[0]] = f[1]
			if tbl == "filter" && f[1] != "ACCEPT" && f[1] != "-" {
				r.Findings = append(r.Findings, Finding{Pos: pos, Keyword: ":" + f[0] + " " + f[1], Severity: Unsupported,
					Msg: "not translated: xlb sets no firewall policy; keep it in your firewall"})
			}
		default:
			if tbl == "" {
				errs = append(errs, &Error{Pos: pos, Msg: "rule outside a *table section (expected '*filter', '*nat', …)"})
				break
			}
			words, err := iptWords(s)
			if err != nil {
				errs = append(errs, &Error{Pos: pos, Msg: err.Error()})
				break
			}
			if len(words) > 0 && strings.HasPrefix(words[0], "[") {
				words = words[1:] // [packets:bytes] counters
			}
			if len(words) < 2 || words[0] != "-A" && words[0] != "-I" && words[0] != "-N" {
				errs = append(errs, &Error{Pos: pos, Msg: fmt.Sprintf("expected -A CHAIN … (iptables-save format), got %q", s)})
				break
			}
			if words[0] == "-N" {
				break
			}
			rule := s
			if m, reason := masquerade(tbl, words); reason == "" {
				m.Pos, m.Rule = pos, rule
				m.Comments = append(comments, m.Comments...)
				r.Masquerade = append(r.Masquerade, m)
			} else if reason != "-" {
				r.Findings = append(r.Findings, Finding{Pos: pos, Keyword: rule, Severity: Unsupported, Msg: reason})
			} else if target(words) == "ACCEPT" && tbl == "filter" && policies[tbl+"/"+words[1]] == "ACCEPT" {
				r.Findings = append(r.Findings, Finding{Pos: pos, Keyword: rule, Severity: Warning,
					Msg: "not translated: it has no effect, the chain's policy is ACCEPT"})
			} else {
				r.Findings = append(r.Findings, Finding{Pos: pos, Keyword: rule, Severity: Unsupported,
					Msg: "not translated: xlb sets up masquerading and forwarding only; keep this rule in your firewall"})
			}
		}
		comments = nil
	}
	if err := joinErrors(errs); err != nil {
		return nil, err
	}
	return r, nil
}

// target returns a rule's -j target.
func target(words []string) string {
	for i := 0; i+1 < len(words); i++ {
		if words[i] == "-j" || words[i] == "--jump" {
			return words[i+1]
		}
	}
	return ""
}

// masquerade reads a rule as a masquerade rule. reason is "" when it is
// one, "-" when it is no masquerade rule at all, else why it cannot be
// translated.
func masquerade(tbl string, words []string) (m Masquerade, reason string) {
	if tbl != "nat" || words[1] != "POSTROUTING" || target(words) != "MASQUERADE" {
		return m, "-"
	}
	for i := 2; i < len(words); i++ {
		w := words[i]
		val := ""
		if i+1 < len(words) {
			val = words[i+1]
		}
		switch w {
		case "-j", "--jump":
			i++
		case "-s", "--source", "--src":
			p, err := iptPrefix(val)
			if err != nil {
				return m, fmt.Sprintf("not translated: bad source %q", val)
			}
			m.Source = p
			i++
		case "-o", "--out-interface":
			if val == "" || strings.HasSuffix(val, "+") {
				return m, fmt.Sprintf("not translated: out interface %q: xlb masquerades out of one named interface", val)
			}
			m.OutInterface = val
			i++
		case "-m":
			if val != "comment" {
				return m, fmt.Sprintf("not translated: match -m %s: xlb's masquerade rules have only a source and an out interface", val)
			}
			i++
		case "--comment":
			m.Comments = append(m.Comments, " "+val)
			i++
		default:
			return m, fmt.Sprintf("not translated: %s: xlb's masquerade rules have only a source and an out interface", w)
		}
	}
	if m.OutInterface == "" {
		return m, "not translated: xlb masquerades out of a named interface (-o IF)"
	}
	return m, ""
}

// iptPrefix parses an iptables address: ADDR, ADDR/LEN or ADDR/MASK.
func iptPrefix(s string) (netip.Prefix, error) {
	addr, mask, found := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	if !found {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if m, err := netip.ParseAddr(mask); err == nil && m.Is4() && a.Is4() {
		bits, ok := maskBits(m)
		if !ok {
			return netip.Prefix{}, fmt.Errorf("netmask with holes %q", s)
		}
		return netip.PrefixFrom(a, bits), nil
	}
	return netip.ParsePrefix(s)
}

// iptWords splits an iptables-save line: blanks separate words, "…"
// quotes, with \" and \\ escapes.
func iptWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote && ch == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
		case ch == '"':
			quote = !quote
			in = true
		case !quote && (ch == ' ' || ch == '\t'):
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(ch)
			in = true
		}
	}
	if quote {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}
