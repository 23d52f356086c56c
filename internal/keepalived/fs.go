package keepalived

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// FS is what the parser reads configuration files through: the operating
// system's files (OSFS) in xlbctl, an in-memory set in tests.
type FS interface {
	// ReadFile returns the contents of the file name.
	ReadFile(name string) ([]byte, error)
	// Glob returns the regular files matching pattern (path/filepath.Match
	// syntax; braces are expanded before Glob is called), sorted.
	// Directories are left out, as keepalived skips them.
	Glob(pattern string) ([]string, error)
}

// OSFS reads the operating system's files.
type OSFS struct{}

// ReadFile implements FS.
func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Glob implements FS.
func (OSFS) Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	out := m[:0]
	for _, name := range m {
		if st, err := os.Stat(name); err == nil && !st.IsDir() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// MapFS is an in-memory FS: file name → contents. Names are used as they
// are, so give them the form the includes will produce (filepath.Join of the
// including file's directory and the pattern).
type MapFS map[string]string

// ReadFile implements FS.
func (m MapFS) ReadFile(name string) ([]byte, error) {
	s, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

// Glob implements FS.
func (m MapFS) Glob(pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := filepath.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}
