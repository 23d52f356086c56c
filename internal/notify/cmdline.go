// Package notify runs operator scripts and sends e-mail alerts on state
// transitions. healthd uses it for MISC_CHECK programs, notify_up/notify_down
// and quorum_up/quorum_down scripts and smtp_alert mail; the VRRP code uses it
// for its own notify scripts.
//
// Scripts run without a shell unless asked (the command line is split the way
// keepalived splits it, quotes honoured), with a clean environment holding PATH
// only, in their own process group, and are killed with that whole group when
// they overrun their timeout.
package notify

import (
	"fmt"
	"strings"
)

// SplitCommandLine splits a keepalived-style command line into words.
//
// Words are separated by unquoted blanks. Single and double quotes group text
// into one word and may abut unquoted text ("a"'b'c is the word abc); an empty
// pair of quotes is an empty word. A backslash escapes the next character
// inside or outside quotes and understands the C escapes \a \b \f \n \r \t \v,
// \E (escape), \cX (control-X), \xHH and octal \ooo; any other escaped
// character stands for itself. An unterminated quote or a trailing backslash
// is an error.
func SplitCommandLine(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quote  byte
	)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\':
			r, n, err := unescape(line[i+1:])
			if err != nil {
				return nil, fmt.Errorf("command line %q: %w", line, err)
			}
			cur.WriteByte(r)
			i += n
			inWord = true
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == '"' || ch == '\'':
			quote = ch
			inWord = true
		case isBlank(ch):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command line %q: missing closing %c", line, quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func isBlank(ch byte) bool {
	switch ch {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

// unescape decodes the escape sequence that follows a backslash in s and
// returns the byte it stands for and how many bytes of s it used.
func unescape(s string) (byte, int, error) {
	if s == "" {
		return 0, 0, fmt.Errorf("backslash at end of line")
	}
	switch c := s[0]; c {
	case 'a':
		return '\a', 1, nil
	case 'b':
		return '\b', 1, nil
	case 'E':
		return 0x1b, 1, nil
	case 'f':
		return '\f', 1, nil
	case 'n':
		return '\n', 1, nil
	case 'r':
		return '\r', 1, nil
	case 't':
		return '\t', 1, nil
	case 'v':
		return '\v', 1, nil
	case 'c':
		if len(s) > 1 {
			return s[1] & 0x1f, 2, nil
		}
		return c, 1, nil
	case 'x':
		var v byte
		n := 1
		for n < 3 && n < len(s) && isHex(s[n]) {
			v = v<<4 | hexVal(s[n])
			n++
		}
		if n == 1 {
			return c, 1, nil
		}
		return v, n, nil
	default:
		if c >= '0' && c <= '7' {
			v := c - '0'
			n := 1
			for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
				v = v<<3 | (s[n] - '0')
				n++
			}
			return v, n, nil
		}
		return c, 1, nil
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
