package pass

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/regfile"
	"github.com/symroute/symroute/sync/plan"
)

// systemd-networkd deletes routing policy rules it did not make whenever it
// configures a link, unless ManageForeignRoutingPolicyRules=no, which it
// reads only when it starts. ReadNetworkd says whether it runs in this
// host's network namespace and whether that setting is in effect, from its
// files and its process: enough for a warning, never for a decision.

// networkdConfDirs hold networkd.conf and its networkd.conf.d drop-ins, the
// first winning for a file name found in several; only the first
// networkd.conf found is read (systemd.conf(5); networkd 252 reads /etc's
// only, which is also the first).
var networkdConfDirs = []string{"/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd"}

// ReadNetworkd reads what networkd, if it runs here, keeps. root prefixes
// every path ("" for /), for tests.
func ReadNetworkd(root string) plan.Networkd {
	pid, ok := networkdPID(root)
	if !ok {
		return plan.Networkd{}
	}
	nd := plan.Networkd{Running: true}
	var setAt time.Time
	nd.KeepsForeignRules, nd.File, setAt = networkdSetting(root)
	if nd.KeepsForeignRules {
		if start, ok := processStart(root, pid); ok && setAt.After(start) {
			nd.NotYet = true
		}
	}
	return nd
}

// networkdPID finds systemd-networkd in this network namespace: by its
// unit's cgroup where systemd is init; else (a container, a test bed)
// among the processes, a look at each (about 0.6 ms a pass at 70), only
// where a networkd wrote its state file since boot. systemd's own
// tmpfiles make /run/systemd/netif wherever systemd is installed, so the
// directory alone says nothing.
func networkdPID(root string) (int, bool) {
	// The unified hierarchy, then a hybrid host's two (cgroup v1 hosts such
	// as Ubuntu 20.04 keep systemd's own under name=systemd).
	for _, cg := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"} {
		b, err := readSmall(root + cg + "/system.slice/systemd-networkd.service/cgroup.procs")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			// Its network namespace, where it can be read. The packaged
			// units cannot (ProtectProc=invisible hides it; without
			// CAP_SYS_PTRACE root may not read its ns/net link): there the
			// unit's cgroup says it runs, in the host's namespace, which is
			// the units' own. Elsewhere (a test's namespace on a systemd
			// host) the host's networkd is not this namespace's.
			// Only the unit's processes are in its cgroup, but a
			// process whose entry can be read is checked as everywhere.
			if owned, known := ownedByNetworkd(root, root+"/proc/"+f); known && !owned {
				continue
			}
			theirs, err := os.Readlink(root + "/proc/" + f + "/ns/net")
			if ours, err2 := os.Readlink(root + "/proc/thread-self/ns/net"); err != nil || err2 != nil || theirs == ours {
				return pid, true
			}
		}
	}
	if _, err := os.Stat(root + "/run/systemd/system"); err == nil {
		return 0, false // systemd is init: networkd would be in its unit
	}
	if _, err := os.Stat(root + "/run/systemd/netif/state"); err != nil {
		return 0, false
	}
	procs, _ := os.ReadDir(root + "/proc")
	for _, p := range procs {
		if pid, err := strconv.Atoi(p.Name()); err == nil && isNetworkd(root, pid) {
			return pid, true
		}
	}
	return 0, false
}

// isNetworkd reports whether pid is systemd-networkd in our network
// namespace (the kernel cuts a command name to 15 bytes), run by root or
// the systemd-network user: any user may run a program of that name. The
// command name
// is read with plain system calls: os.ReadFile's poller registration
// tripled the cost of a look at every process (about 1 ms a pass on a host
// with 70).
func isNetworkd(root string, pid int) bool {
	dir := root + "/proc/" + strconv.Itoa(pid)
	var buf [32]byte
	fd, err := unix.Open(dir+"/comm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || n <= 0 || string(bytes.TrimSpace(buf[:n])) != "systemd-network" {
		return false
	}
	if owned, _ := ownedByNetworkd(root, dir); !owned {
		return false
	}
	theirs, err1 := os.Readlink(dir + "/ns/net")
	ours, err2 := os.Readlink(root + "/proc/thread-self/ns/net")
	return err1 == nil && err2 == nil && theirs == ours
}

// networkdUser is the user systemd runs systemd-networkd as, and the one
// networkd started as root drops to.
const networkdUser = "systemd-network"

// ownedByNetworkd reports whether the process whose /proc entry is dir is
// root's or networkdUser's: every uid it holds (real, effective, saved,
// filesystem) is one of theirs, so that a setuid program run under
// networkd's name (its real uid stays its caller's) does not count either.
// known is false where the entry's status cannot be read.
func ownedByNetworkd(root, dir string) (owned, known bool) {
	b, err := readSmall(dir + "/status")
	if err != nil {
		return false, false
	}
	var uids []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			uids = strings.Fields(v)
			break
		}
	}
	nd, hasUser := userID(root, networkdUser)
	for _, u := range uids {
		id, err := strconv.ParseUint(u, 10, 32)
		if err != nil || (id != 0 && (!hasUser || uint32(id) != nd)) {
			return false, true
		}
	}
	return len(uids) > 0, true
}

// userID is name's uid in root's /etc/passwd, read as a file so that
// tests can give a root of their own (os/user reads the host's): systemd
// writes its system users there (sysusers.d). A host without the user
// has none.
func userID(root, name string) (uint32, bool) {
	b, err := readSmall(root + "/etc/passwd")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 3 && f[0] == name {
			id, err := strconv.ParseUint(f[2], 10, 32)
			return uint32(id), err == nil
		}
	}
	return 0, false
}

// networkdSetting reads ManageForeignRoutingPolicyRules as networkd would:
// networkd.conf, then the drop-ins by file name, the last word winning;
// file is the file that said it, at time setAt.
func networkdSetting(root string) (keeps bool, file string, setAt time.Time) {
	byName := map[string]string{}
	var files []string
	for i := len(networkdConfDirs) - 1; i >= 0; i-- {
		confs, _ := filepath.Glob(root + networkdConfDirs[i] + "/networkd.conf.d/*.conf")
		for _, c := range confs {
			byName[filepath.Base(c)] = c
		}
		if _, err := os.Lstat(root + networkdConfDirs[i] + "/networkd.conf"); err == nil {
			files = []string{root + networkdConfDirs[i] + "/networkd.conf"}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, byName[n])
	}
	for _, f := range files {
		if v, ok := readKeyfile(f)["Network"]["ManageForeignRoutingPolicyRules"]; ok {
			if b, err := parseSystemdBool(v); err == nil {
				keeps, file = !b, strings.TrimPrefix(f, root)
				if fi, err := os.Stat(f); err == nil {
					setAt = fi.ModTime()
				}
			}
		}
	}
	return keeps, file, setAt
}

func parseSystemdBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, strconv.ErrSyntax
}

// maxOtherFile bounds what a pass reads of another program's file.
const maxOtherFile = 1 << 20

// readSmall reads another program's file for a warning: a regular file
// (a FIFO or a device, or a link to one, would block or never end the
// pass), at most maxOtherFile bytes of it. Links are followed: systemd
// masks a file with a link to /dev/null, which then reads as nothing.
func readSmall(path string) ([]byte, error) { return regfile.Read(path, true, maxOtherFile) }

// processStart is when pid started: its start in clock ticks after boot
// (/proc/PID/stat, field 22), and the boot time (/proc/stat's btime).
func processStart(root string, pid int) (time.Time, bool) {
	stat, err := os.ReadFile(root + "/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, false
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing one (state is field 3).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	b, err := os.ReadFile(root + "/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			bt, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			const clkTck = 100 // USER_HZ, fixed at 100 on Linux
			return time.Unix(bt, 0).Add(time.Duration(ticks) * time.Second / clkTck), true
		}
	}
	return time.Time{}, false
}
