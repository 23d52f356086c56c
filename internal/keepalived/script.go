package keepalived

import (
	"errors"
	"fmt"
	"strings"
)

// scriptLine re-reads the line of a script keyword (notify_*, script,
// misc_path, quorum_up, …) as keepalived does: the line is split into words
// with ' and " quoting, the second word is the command, split again into
// arguments with quoting and backslash escapes, and any further words are a
// user and group to run it as.
func scriptLine(raw string) (argv, extra []string, err error) {
	words, err := splitQuoted(raw, false)
	if err != nil {
		return nil, nil, err
	}
	if len(words) < 2 || words[1] == "" {
		return nil, nil, errors.New("expected a command")
	}
	argv, err = splitQuoted(words[1], true)
	if err != nil {
		return nil, nil, err
	}
	if len(argv) == 0 {
		return nil, nil, errors.New("expected a command, got blanks")
	}
	return argv, words[2:], nil
}

// splitQuoted splits s into words: blanks separate words, '…' and "…" quote
// (the quote characters are removed, the blanks inside kept), and a
// backslash escapes the next character. With escapes, \n, \t, \xHH, \NNN,
// \cC and the like are decoded; without, the backslash is kept.
func splitQuoted(s string, escapes bool) ([]string, error) {
	const blanks = " \t\f\n\r\v"
	var words []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(blanks, s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return words, nil
		}
		var w strings.Builder
		var quote byte
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				i++
				if i >= len(s) {
					return nil, fmt.Errorf("backslash at the end of %q", s)
				}
				if !escapes {
					w.WriteByte('\\')
					w.WriteByte(s[i])
					i++
					continue
				}
				var n int
				var b byte
				b, n = unescape(s[i:])
				w.WriteByte(b)
				i += n
				continue
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					w.WriteByte(c)
				}
				i++
				continue
			case c == '"' || c == '\'':
				quote = c
				i++
				continue
			case strings.IndexByte(blanks, c) >= 0:
			default:
				w.WriteByte(c)
				i++
				continue
			}
			break
		}
		if quote != 0 {
			return nil, fmt.Errorf("missing closing %c in %q", quote, s)
		}
		words = append(words, w.String())
	}
}

// unescape decodes the escape at the start of s (after the backslash),
// returning the byte and how many bytes of s it used.
func unescape(s string) (byte, int) {
	c := s[0]
	switch {
	case c == 'x' && len(s) > 1 && isHex(s[1]):
		var v byte
		n := 1
		for ; n <= 2 && n < len(s) && isHex(s[n]); n++ {
			v = v<<4 | hexVal(s[n])
		}
		return v, n
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case c >= '0' && c <= '7':
		v := c - '0'
		n := 1
		for ; n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7'; n++ {
			v = v<<3 | (s[n] - '0')
		}
		return v, n
	}
	switch c {
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 'E':
		return 0x1b, 1
	case 'f':
		return '\f', 1
	case 'n':
		return '\n', 1
	case 'r':
		return '\r', 1
	case 't':
		return '\t', 1
	case 'v':
		return '\v', 1
	}
	return c, 1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// commandLine writes argv as one command line that notify.SplitCommandLine
// (how xlb runs scripts, keepalived's rules) splits back into the same
// words: plain words as they are, others in single quotes with backslashes
// and quotes escaped.
func commandLine(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_@%+=:,./-", c) >= 0) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `'\''`).Replace(s) + "'"
}
