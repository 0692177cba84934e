package pass

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultIproute2Dirs are where iproute2 looks for rt_tables: /etc first,
// then the distribution's defaults (iproute2 6.5 moved them to /usr/share).
var DefaultIproute2Dirs = []string{"/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"}

// ReadTableNames reads rt_tables and rt_tables.d/*.conf in dirs. Unreadable
// or missing files are skipped: names only ever make symroute more careful.
func ReadTableNames(dirs []string) map[uint32]string {
	names := map[uint32]string{}
	for _, d := range dirs {
		readTableFile(filepath.Join(d, "rt_tables"), names)
		confs, _ := filepath.Glob(filepath.Join(d, "rt_tables.d", "*.conf"))
		sort.Strings(confs)
		for _, c := range confs {
			readTableFile(c, names)
		}
	}
	return names
}

func readTableFile(path string, names map[uint32]string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 0, 32)
		if err != nil {
			continue
		}
		names[uint32(n)] = fields[1]
	}
}
