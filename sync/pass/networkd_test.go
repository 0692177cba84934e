package pass

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/sync/plan"
)

// fakeRoot is a root with a systemd-networkd of pid 42, started at boot
// time + 5 s, in our network namespace unless otherNS, running as the
// systemd-network user (uid 998) as systemd starts it.
func fakeRoot(t *testing.T, otherNS bool) (string, time.Time) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"proc/42/ns", "proc/thread-self/ns", "run/systemd/netif", "etc/systemd/networkd.conf.d",
		"run/systemd/networkd.conf.d", "usr/lib/systemd/networkd.conf.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("run/systemd/netif/state", "OPER_STATE=routable\n")
	boot := time.Now().Add(-time.Hour).Truncate(time.Second)
	write("proc/stat", "cpu  1 2 3\nbtime "+strconv.FormatInt(boot.Unix(), 10)+"\nprocesses 9\n")
	write("proc/42/comm", "systemd-network\n")
	write("proc/42/status", networkdStatus("998\t998\t998\t998"))
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsystemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n")
	// pid (comm) state, then fields 4..22: starttime is the 22nd.
	write("proc/42/stat", "42 (systemd-network) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 500 1000 100")
	theirs := "net:[4026531840]"
	if otherNS {
		theirs = "net:[4026532000]"
	}
	for link, target := range map[string]string{"proc/42/ns/net": theirs, "proc/thread-self/ns/net": "net:[4026531840]"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root, boot.Add(5 * time.Second)
}

func TestReadNetworkd(t *testing.T) {
	const dropIn = "[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no\n"
	for _, tc := range []struct {
		name    string
		otherNS bool
		files   map[string]string
		// newer files are written after networkd started
		newer map[string]bool
		want  plan.Networkd
	}{
		{name: "no config: rules deleted", want: plan.Networkd{Running: true}},
		{name: "another namespace's networkd", otherNS: true, want: plan.Networkd{}},
		{name: "the package's drop-in", files: map[string]string{"usr/lib/systemd/networkd.conf.d/symroute.conf": dropIn},
			want: plan.Networkd{Running: true, KeepsForeignRules: true, File: "/usr/lib/systemd/networkd.conf.d/symroute.conf"}},
		{name: "masked by a file of the same name in /etc", files: map[string]string{
			"usr/lib/systemd/networkd.conf.d/symroute.conf": dropIn, "etc/systemd/networkd.conf.d/symroute.conf": "# emptied\n"},
			want: plan.Networkd{Running: true}},
		{name: "a later drop-in says yes", files: map[string]string{
			"usr/lib/systemd/networkd.conf.d/symroute.conf": dropIn, "run/systemd/networkd.conf.d/zz.conf": "[Network]\nManageForeignRoutingPolicyRules=yes\n"},
			want: plan.Networkd{Running: true, File: "/run/systemd/networkd.conf.d/zz.conf"}},
		{name: "another section's key", files: map[string]string{"etc/systemd/networkd.conf": "[DHCPv4]\nManageForeignRoutingPolicyRules=no\n"},
			want: plan.Networkd{Running: true}},
		// Only the first networkd.conf found is read: /etc's hides /usr/lib's.
		{name: "only the first main file", files: map[string]string{
			"usr/lib/systemd/networkd.conf": "[Network]\nManageForeignRoutingPolicyRules=no\n", "etc/systemd/networkd.conf": "[Network]\n"},
			want: plan.Networkd{Running: true}},
		{name: "a main file in /run", files: map[string]string{"run/systemd/networkd.conf": "[Network]\nManageForeignRoutingPolicyRules=no\n"},
			want: plan.Networkd{Running: true, KeepsForeignRules: true, File: "/run/systemd/networkd.conf"}},
		{name: "written after networkd started", files: map[string]string{"run/systemd/networkd.conf.d/symroute.conf": dropIn},
			newer: map[string]bool{"run/systemd/networkd.conf.d/symroute.conf": true},
			want:  plan.Networkd{Running: true, KeepsForeignRules: true, NotYet: true, File: "/run/systemd/networkd.conf.d/symroute.conf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, started := fakeRoot(t, tc.otherNS)
			for p, s := range tc.files {
				f := filepath.Join(root, p)
				if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
				at := started.Add(-time.Minute)
				if tc.newer[p] {
					at = started.Add(time.Minute)
				}
				if err := os.Chtimes(f, at, at); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.want, ReadNetworkd(root)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Where networkd never ran, nothing is looked for.
	if got := ReadNetworkd(t.TempDir()); got != (plan.Networkd{}) {
		t.Errorf("empty root: %+v", got)
	}
	// Where systemd is init, networkd is found in its unit's cgroup or
	// not at all.
	root, _ := fakeRoot(t, false)
	if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := ReadNetworkd(root); got != (plan.Networkd{}) {
		t.Errorf("systemd as init, no networkd unit: %+v", got)
	}
	cg := filepath.Join(root, "sys/fs/cgroup/system.slice/systemd-networkd.service")
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := ReadNetworkd(root); got != (plan.Networkd{Running: true}) {
		t.Errorf("systemd as init, networkd in its unit: %+v", got)
	}
	// A unit that cannot see networkd's /proc entry trusts the cgroup.
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte("77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := ReadNetworkd(root); got != (plan.Networkd{Running: true}) {
		t.Errorf("systemd as init, networkd's /proc entry hidden: %+v", got)
	}
	// One in another network namespace (a test's on a systemd host) is
	// not this namespace's.
	other, _ := fakeRoot(t, true)
	inNetworkdUnit(t, other, "sys/fs/cgroup/unified")
	if got := ReadNetworkd(other); got != (plan.Networkd{}) {
		t.Errorf("the host's networkd, seen from another namespace: %+v", got)
	}
	// A FIFO among its files neither blocks nor counts.
	fifo := filepath.Join(root, "etc/systemd/networkd.conf.d/fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan plan.Networkd, 1)
	go func() { done <- ReadNetworkd(root) }()
	select {
	case got := <-done:
		if got != (plan.Networkd{Running: true}) {
			t.Errorf("with a FIFO for a drop-in: %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a FIFO among networkd's drop-ins blocked the read")
	}
}

// inNetworkdUnit makes systemd init in root, with pid 42 in networkd's
// unit under the cgroup hierarchy at hier.
func inNetworkdUnit(t *testing.T, root, hier string) {
	t.Helper()
	cg := filepath.Join(root, hier, "system.slice/systemd-networkd.service")
	for _, d := range []string{cg, filepath.Join(root, "run/systemd/system")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// networkdStatus is /proc/PID/status of a systemd-networkd with uids (real,
// effective, saved, filesystem).
func networkdStatus(uids string) string {
	return "Name:\tsystemd-network\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nNgid:\t0\nPid:\t42\nPPid:\t1\n" +
		"TracerPid:\t0\nUid:\t" + uids + "\nGid:\t998\t998\t998\t998\nFDSize:\t64\n"
}

// A process named systemd-networkd counts only if it is root's or the
// systemd-network user's: any user may start a program of that name, and
// must not make every pass warn. Its uids are checked wherever its /proc
// entry can be read, in its unit's cgroup too.
func TestReadNetworkdOwner(t *testing.T) {
	const user = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
	for _, tc := range []struct {
		name   string
		uids   string
		passwd string // "" keeps fakeRoot's, naming systemd-network 998
		cgroup bool   // found in its unit's cgroup rather than among the processes
		want   bool
	}{
		{name: "systemd-network", uids: "998\t998\t998\t998", want: true},
		{name: "root", uids: "0\t0\t0\t0", want: true},
		{name: "another user", uids: "1000\t1000\t1000\t1000"},
		{name: "another user, setuid root", uids: "1000\t0\t0\t0"},
		{name: "root, as another user", uids: "0\t1000\t1000\t1000"},
		{name: "no systemd-network user: root only", uids: "998\t998\t998\t998", passwd: user},
		{name: "no systemd-network user, root", uids: "0\t0\t0\t0", passwd: user, want: true},
		{name: "no status", uids: ""},
		{name: "in the unit's cgroup", uids: "998\t998\t998\t998", cgroup: true, want: true},
		{name: "another user's, in the unit's cgroup", uids: "1000\t1000\t1000\t1000", cgroup: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := fakeRoot(t, false)
			status := filepath.Join(root, "proc/42/status")
			if err := os.WriteFile(status, []byte(networkdStatus(tc.uids)), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.uids == "" {
				if err := os.Remove(status); err != nil {
					t.Fatal(err)
				}
			}
			if tc.passwd != "" {
				if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(tc.passwd), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.cgroup {
				inNetworkdUnit(t, root, "sys/fs/cgroup")
			}
			if got := ReadNetworkd(root).Running; got != tc.want {
				t.Errorf("running: %v, want %v", got, tc.want)
			}
		})
	}
}
