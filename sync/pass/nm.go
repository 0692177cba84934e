package pass

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/symroute/symroute/sync/plan"
)

// A NetworkManager connection with its own route table or routing rules
// makes NM manage that table and those rules itself, beside symroute's on
// the same link. ReadNMRouting finds them: the connection NM applied to
// each link (its device state file, /run/NetworkManager/devices/IFINDEX,
// names it by UUID) and that connection's keyfile.

// nmConnectionDirs hold keyfiles, the first winning for a UUID found in
// several: NetworkManager ranks /run's (in-memory, `nmcli connection
// modify --temporary`) over /etc's over /usr/lib's.
var nmConnectionDirs = []string{"/run/NetworkManager/system-connections", "/etc/NetworkManager/system-connections",
	"/usr/lib/NetworkManager/system-connections"}

// ReadNMRouting returns the links whose applied NetworkManager connection
// sets a route table or routing rules; root prefixes every path ("" for
// /). Nothing where NM does not run.
func ReadNMRouting(root string) []plan.NMRouting { return nmRouting(root, readNMDevices(root)) }

// nmDeviceDir holds NetworkManager's state of each device, by ifindex.
const nmDeviceDir = "/run/NetworkManager/devices"

// readNMDevices reads NetworkManager's device state files under root, by
// ifindex; nil where NM does not run.
func readNMDevices(root string) map[int]keyfile {
	ents, err := os.ReadDir(root + nmDeviceDir)
	if err != nil {
		return nil
	}
	devs := make(map[int]keyfile, len(ents))
	for _, d := range ents {
		if idx, err := strconv.Atoi(d.Name()); err == nil && idx > 0 {
			devs[idx] = readKeyfile(filepath.Join(root, nmDeviceDir, d.Name()))
		}
	}
	return devs
}

func nmRouting(root string, devs map[int]keyfile) []plan.NMRouting {
	uuids := map[string][]int{}
	for idx, dev := range devs {
		if u := dev["device"]["connection-uuid"]; u != "" {
			uuids[u] = append(uuids[u], idx)
		}
	}
	if len(uuids) == 0 {
		return nil
	}
	var out []plan.NMRouting
	seen := map[string]bool{}
	for _, dir := range nmConnectionDirs {
		files, _ := os.ReadDir(root + dir)
		for _, f := range files {
			// NetworkManager skips hidden and backup files, and keyfiles
			// others may read or that root does not own.
			if f.IsDir() || strings.HasPrefix(f.Name(), ".") || strings.HasSuffix(f.Name(), "~") ||
				strings.HasSuffix(f.Name(), ".bak") || strings.HasSuffix(f.Name(), ".orig") || strings.HasSuffix(f.Name(), ".rej") {
				continue
			}
			if fi, err := f.Info(); err != nil || fi.Mode().Perm()&0o077 != 0 || !ownedByRoot(fi) {
				continue
			}
			kf := readKeyfile(filepath.Join(root+dir, f.Name()))
			u := kf["connection"]["uuid"]
			if u == "" || seen[u] || uuids[u] == nil {
				continue
			}
			seen[u] = true
			r := plan.NMRouting{Connection: kf["connection"]["id"]}
			for fam, sec := range map[int]string{4: "ipv4", 6: "ipv6"} {
				t, _ := strconv.ParseUint(kf[sec]["route-table"], 10, 32)
				rules := 0
				for k := range kf[sec] {
					if strings.HasPrefix(k, "routing-rule") {
						rules++
					}
				}
				if fam == 4 {
					r.Table4, r.Rules4 = uint32(t), rules
				} else {
					r.Table6, r.Rules6 = uint32(t), rules
				}
			}
			if r.Table4 == 0 && r.Table6 == 0 && r.Rules4 == 0 && r.Rules6 == 0 {
				continue
			}
			for _, idx := range uuids[u] {
				r.Link = idx
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Link < out[j].Link })
	return out
}

func ownedByRoot(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
}

// keyfile is a GLib key file or a systemd configuration file, by section
// and key.
type keyfile = map[string]map[string]string

// readKeyfile reads a GLib key file or a systemd configuration file:
// sections of key=value lines, the last value of a key winning ("#" and
// ";" start comments; a file masked by a link to /dev/null has none).
func readKeyfile(path string) keyfile {
	out := keyfile{}
	b, err := readSmall(path)
	if err != nil {
		return out
	}
	sec := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			if out[sec] == nil {
				out[sec] = map[string]string{}
			}
		case sec != "":
			if k, v, ok := strings.Cut(line, "="); ok {
				out[sec][strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}
