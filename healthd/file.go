package healthd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// fileChecker is FILE_CHECK: the real's state follows a number in a file,
// with keepalived's rules for a real server tracking a track_file. The
// number is read as C's strtol(s, NULL, 0) reads it (leading blanks, a
// sign, 0x for hex, a leading 0 for octal, anything after the digits
// ignored); a missing, unreadable or empty file, or one without a number,
// reads as 0, and a number outside the 32-bit range is ignored (the last
// value stays). Then, with weight 0, a non-zero number puts the real down
// (with reverse, zero does); with another weight, number × weight (× -1
// with reverse), limited to the 32-bit range, is added to the real's
// weight, and -2147483648 or less puts the real down.
type fileChecker struct {
	s spec

	mu   sync.Mutex
	last int64 // last value read, for a value out of range
}

func newFileChecker(s spec) *fileChecker { return &fileChecker{s: s} }

func (f *fileChecker) String() string { return f.s.String() }

func (f *fileChecker) Check(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := readTrackFile(f.s.FilePath)
	if ok {
		f.last = v
	}
	v = f.last
	if f.s.FileWeight == 0 {
		if (v != 0) != f.s.FileReverse {
			return 0, fail(fmt.Sprintf("track file %s: value %d", f.s.TrackFile, v), nil)
		}
		return 0, nil
	}
	mult := int64(f.s.FileWeight)
	if f.s.FileReverse {
		mult = -mult
	}
	w := max(math.MinInt32, min(math.MaxInt32, v*mult)) // |v| ≤ 2^31, |mult| < 2^31
	if w == math.MinInt32 {
		return 0, fail(fmt.Sprintf("track file %s: value %d × weight %d is at most %d", f.s.TrackFile, v, mult, math.MinInt32), nil)
	}
	return int(w), nil
}

// ReadTrackFile reads the number in a track file as keepalived does (see
// fileChecker); ok is false when the number is out of range and must be
// ignored (the last value read stays). VRRP's track_file uses it too.
func ReadTrackFile(path string) (v int64, ok bool) { return readTrackFile(path) }

// InitTrackFile is keepalived's init_file: write value to path when it
// does not exist, or (overwrite) when first is set, atomically.
func InitTrackFile(path string, value int, overwrite, first bool) error {
	return initTrackFile(path, value, overwrite, first)
}

// readTrackFile reads the number in a track file; ok is false when the
// number is out of range and must be ignored.
func readTrackFile(path string) (v int64, ok bool) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, true
	}
	defer fh.Close()
	buf := make([]byte, 127) // keepalived reads at most 127 bytes
	n, _ := io.ReadFull(fh, buf)
	v, inRange := strtol(string(buf[:n]))
	if !inRange || v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, false
	}
	return v, true
}

// strtol reads a number as C's strtol(s, NULL, 0) does; inRange is false
// on overflow of 64 bits.
func strtol(s string) (v int64, inRange bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := 10
	switch {
	case i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && digitVal(s[i+2]) < 16:
		base, i = 16, i+2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	j := i
	for j < len(s) && digitVal(s[j]) < base {
		j++
	}
	if j == i {
		return 0, true
	}
	u, err := strconv.ParseUint(s[i:j], base, 64)
	if err != nil || u > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// initTrackFile applies init_file: write value when the file does not
// exist, or with overwrite when it does and may be overwritten (not on a
// reload, as keepalived).
func initTrackFile(path string, value int, overwrite, firstSet bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && (!overwrite || !firstSet):
		return nil
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("init_file %s: not a regular file", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("init_file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("init_file: %w", err)
	}
	_, werr := fmt.Fprintf(tmp, "%d\n", value)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("init_file: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("init_file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("init_file: %w", err)
	}
	return nil
}
