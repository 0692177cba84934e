package config

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// readFile reads the config file name into s. A missing file is fine
// unless mustExist (it was named with --config).
func readFile(name string, mustExist bool, s *optionSet) error {
	// Checked before it is opened, as opening some device nodes does
	// something; opened without blocking (a FIFO swapped in meanwhile would
	// wait for a writer, forever); and what was opened checked again:
	// nothing is trusted that a name pointed to a moment before.
	st, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return nil
	}
	if err != nil {
		return usagef("config file %s: %w", name, unwrapPath(err))
	}
	if err := checkFile(name, st); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return usagef("config file %s: %w", name, unwrapPath(err))
	}
	defer f.Close()
	st, err = f.Stat()
	if err != nil {
		return usagef("config file %s: %w", name, unwrapPath(err))
	}
	if err := checkFile(name, st); err != nil {
		return err
	}
	return parseFile(name, f, s)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkFile refuses a file that someone other than root (or whoever runs
// us) could have written: it decides which links root rewrites routes for.
func checkFile(name string, st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return usagef("config file %s: not a regular file (%s)", name, kind(st.Mode()))
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return usagef("config file %s: mode %04o lets group or others write it; refusing it (chmod go-w %s)", name, perm, name)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if uid := int(sys.Uid); uid != 0 && uid != os.Geteuid() {
			return usagef("config file %s: owned by uid %d, neither root nor us; refusing it", name, uid)
		}
	}
	return nil
}

func parseFile(name string, r *os.File, s *optionSet) error {
	sc := bufio.NewScanner(r)
	firstLine := map[string]int{}
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(stripComment(sc.Text()))
		if text == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			return usagef("%s:%d: %q is not key = value", name, n, text)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case key == "":
			return usagef("%s:%d: no key before =", name, n)
		case !isOptionKey(key):
			if fl, _ := newFlagSet(); fl.Lookup(key) != nil {
				return usagef("%s:%d: %q is a command-line flag, not a config file key (keys: %s)", name, n, key, strings.Join(optionKeys, ", "))
			}
			return usagef("%s:%d: unknown key %q (keys: %s)", name, n, key, strings.Join(optionKeys, ", "))
		case !isList(key) && firstLine[key] != 0:
			return usagef("%s:%d: %s given twice (first on line %d)", name, n, key, firstLine[key])
		case isQuoted(value):
			// Values are taken literally; quotes would become part of
			// a glob that then matches no link.
			return usagef("%s:%d: %s %s: write the value without quotes", name, n, key, value)
		}
		if firstLine[key] == 0 {
			firstLine[key] = n
		}
		if err := s.set(key, value); err != nil {
			return usagef("%s:%d: %v", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return usagef("%s:%d: line too long", name, n+1)
		}
		return usagef("config file %s: %w", name, unwrapPath(err))
	}
	return nil
}

// stripComment drops a whole-line comment, or one that starts after
// whitespace: "exclude = veth* # containers". A "#" inside a value
// ("eth#1") stays.
func stripComment(line string) string {
	if strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
		return ""
	}
	for i := 1; i < len(line); i++ {
		if line[i] == '#' && (line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}

func isQuoted(v string) bool {
	return len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "type " + m.Type().String()
}
