package kubernetes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/symroute/symroute/config"
	"github.com/symroute/symroute/internal/testbed"
	"github.com/symroute/symroute/lease"
)

// peak100k is what a pass mirroring 100k routes took at its peak, measured
// by hand in the container (cgroup v1's max_usage_in_bytes, page cache
// included: 77 MiB; README, "Kubernetes and containers"), rounded up: the
// memory request must hold it, and the limit twice it.
const peak100k = 80 << 20

// systemBusSocket is the system bus's standard socket (the D-Bus
// specification's), where the listener connects without
// DBUS_SYSTEM_BUS_ADDRESS.
const systemBusSocket = "/run/dbus/system_bus_socket"

// mount is what the pod must see at a path: a hostPath volume of the same
// path, or the ConfigMap, and whether it may write there.
type mount struct {
	Volume   string // "hostPath" or "configMap:NAME"
	ReadOnly bool
}

// wantMounts are every mount the pod has, and all it needs.
func wantMounts() map[string]mount {
	return map[string]mount{
		filepath.Dir(config.DefaultConfigFile): {"configMap:symroute", true},
		// The lock, shared with the host's hooks and timer: writable.
		filepath.Dir(config.DefaultLockFile): {"hostPath", false},
		// The stacks' lease state: read only.
		lease.DefaultDir:              {"hostPath", true},
		"/run/systemd/netif/leases":   {"hostPath", true},
		"/run/NetworkManager":         {"hostPath", true},
		filepath.Dir(systemBusSocket): {"hostPath", true},
	}
}

func readManifest(t *testing.T) (cm, ds map[string]any) {
	t.Helper()
	b, err := os.ReadFile("symroute.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := parseYAML(string(b))
	if err != nil {
		t.Fatalf("symroute.yaml: %v", err)
	}
	if len(docs) != 2 {
		t.Fatalf("symroute.yaml has %d documents, want a ConfigMap and a DaemonSet", len(docs))
	}
	cm, _ = docs[0].(map[string]any)
	ds, _ = docs[1].(map[string]any)
	for _, d := range []struct {
		doc              map[string]any
		apiVersion, kind string
	}{{cm, "v1", "ConfigMap"}, {ds, "apps/v1", "DaemonSet"}} {
		got := []string{str(t, d.doc, "apiVersion"), str(t, d.doc, "kind"), str(t, d.doc, "metadata", "namespace")}
		// kube-system: where system-node-critical needs no quota.
		if diff := cmp.Diff([]string{d.apiVersion, d.kind, "kube-system"}, got); diff != "" {
			t.Fatalf("document (-want +got):\n%s", diff)
		}
	}
	return cm, ds
}

// get walks a path of keys; "" if one is missing.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(t *testing.T, v any, path ...string) string {
	t.Helper()
	s, _ := get(v, path...).(string)
	return s
}

func strs(t *testing.T, v any, path ...string) []string {
	t.Helper()
	var out []string
	l, _ := get(v, path...).([]any)
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%s: item %v is not a string", strings.Join(path, "."), x)
		}
		out = append(out, s)
	}
	return out
}

func maps(v any, path ...string) []map[string]any {
	var out []map[string]any
	l, _ := get(v, path...).([]any)
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// containerfile is what the test reads of packaging/container/Containerfile:
// its base, entrypoint and command.
func containerfile(t *testing.T) (from string, entrypoint, cmd []string) {
	t.Helper()
	b, err := os.ReadFile("../container/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		word, rest, _ := strings.Cut(l, " ")
		var into *[]string
		switch word {
		case "FROM":
			from = strings.TrimSpace(rest)
		case "ENTRYPOINT":
			into = &entrypoint
		case "CMD":
			into = &cmd
		}
		if into != nil {
			if err := json.Unmarshal([]byte(rest), into); err != nil {
				t.Fatalf("Containerfile: %s %s: not a JSON array: %v", word, rest, err)
			}
		}
	}
	return from, entrypoint, cmd
}

// The pod: on the host's network, on every node, critical, and the one
// container is the image build.sh tags, run with the listener's arguments
// config.Parse accepts, the Containerfile's command too.
func TestDaemonSetPod(t *testing.T) {
	_, ds := readManifest(t)
	pod := get(ds, "spec", "template", "spec")
	for _, c := range []struct{ path, want string }{
		{"hostNetwork", "true"},
		{"priorityClassName", "system-node-critical"},
		{"automountServiceAccountToken", "false"},
		{"hostPID", ""},
		{"hostIPC", ""},
	} {
		if got := str(t, pod, c.path); got != c.want {
			t.Errorf("pod spec %s: %q, want %q", c.path, got, c.want)
		}
	}
	everywhere := false
	for _, tol := range maps(pod, "tolerations") {
		everywhere = everywhere || (len(tol) == 1 && tol["operator"] == "Exists")
	}
	if !everywhere {
		t.Errorf("no toleration {operator: Exists}: tainted nodes (control plane, NoExecute) would go without: %v", get(pod, "tolerations"))
	}
	labels, _ := get(ds, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range get(ds, "spec", "selector", "matchLabels").(map[string]any) {
		if labels[k] != v {
			t.Errorf("selector %s=%v does not match the pod's labels %v", k, v, labels)
		}
	}

	ctrs := maps(pod, "containers")
	if len(ctrs) != 1 {
		t.Fatalf("%d containers, want 1", len(ctrs))
	}
	c := ctrs[0]
	version, err := testbed.PackageVersion()
	if err != nil {
		t.Fatal(err)
	}
	if want := "localhost/symroute-sync:" + version; str(t, c, "image") != want {
		t.Errorf("image %q, want %q: what packaging/container/build.sh tags (podman's name for symroute-sync:VERSION)", str(t, c, "image"), want)
	}
	from, entrypoint, cmd := containerfile(t)
	if from != "scratch" || !cmp.Equal(entrypoint, []string{"/usr/sbin/symroute-sync"}) {
		t.Errorf("Containerfile: FROM %s, ENTRYPOINT %q: want scratch and the binary", from, entrypoint)
	}
	if get(c, "command") != nil {
		t.Errorf("command %v overrides the image's entrypoint, the binary", get(c, "command"))
	}
	args := strs(t, c, "args")
	if want := []string{"--listen", "--resync-interval", "60s"}; !cmp.Equal(args, want) || !cmp.Equal(cmd, want) {
		t.Errorf("args %q, Containerfile's CMD %q: want both %q", args, cmd, want)
	}
	conf := filepath.Join(t.TempDir(), "symroute.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(append(args, "--config", conf))
	if err != nil {
		t.Fatalf("the container's args: %v", err)
	}
	if cfg.Mode != config.ModeListen || cfg.ResyncInterval != time.Minute {
		t.Errorf("the container's args parse to mode %v, resync %v: want listen, 1m", cfg.Mode, cfg.ResyncInterval)
	}
}

// Only CAP_NET_ADMIN, no privilege, a read-only root.
func TestDaemonSetSecurity(t *testing.T) {
	_, ds := readManifest(t)
	sc := get(maps(ds, "spec", "template", "spec", "containers")[0], "securityContext")
	for _, c := range []struct {
		path []string
		want string
	}{
		{[]string{"privileged"}, "false"},
		{[]string{"allowPrivilegeEscalation"}, "false"},
		{[]string{"readOnlyRootFilesystem"}, "true"},
		{[]string{"seccompProfile", "type"}, "RuntimeDefault"},
	} {
		if got := str(t, sc, c.path...); got != c.want {
			t.Errorf("securityContext.%s: %q, want %q", strings.Join(c.path, "."), got, c.want)
		}
	}
	if add, drop := strs(t, sc, "capabilities", "add"), strs(t, sc, "capabilities", "drop"); !cmp.Equal(add, []string{"NET_ADMIN"}) || !cmp.Equal(drop, []string{"ALL"}) {
		t.Errorf("capabilities add %q drop %q: want NET_ADMIN alone", add, drop)
	}
}

// Every mount the binary needs, at the paths the code uses, read-only but
// the lock's directory, and nothing else of the host's.
func TestDaemonSetMounts(t *testing.T) {
	cm, ds := readManifest(t)
	pod := get(ds, "spec", "template", "spec")
	volumes := map[string]mount{}
	for _, v := range maps(pod, "volumes") {
		name := str(t, v, "name")
		switch {
		case get(v, "hostPath") != nil:
			volumes[name] = mount{Volume: "hostPath:" + str(t, v, "hostPath", "path")}
			// A node without NetworkManager, networkd or a bus still
			// runs the pod: an empty directory on its /run, a tmpfs.
			if typ := str(t, v, "hostPath", "type"); typ != "DirectoryOrCreate" {
				t.Errorf("volume %s: hostPath type %q, want DirectoryOrCreate", name, typ)
			}
		case get(v, "configMap") != nil:
			volumes[name] = mount{Volume: "configMap:" + str(t, v, "configMap", "name")}
		default:
			t.Errorf("volume %s: neither a hostPath nor a ConfigMap", name)
		}
	}
	got := map[string]mount{}
	for _, m := range maps(maps(pod, "containers")[0], "volumeMounts") {
		path, v := str(t, m, "mountPath"), volumes[str(t, m, "name")]
		if v.Volume == "hostPath:"+path {
			v.Volume = "hostPath" // the host's path at the same place
		}
		v.ReadOnly = str(t, m, "readOnly") == "true"
		got[path] = v
	}
	if diff := cmp.Diff(wantMounts(), got); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if name := str(t, cm, "metadata", "name"); name != "symroute" {
		t.Errorf("ConfigMap %q, want symroute (the volume's)", name)
	}
	// The ConfigMap's file is one config.Parse takes, at the default path.
	body, ok := get(cm, "data", filepath.Base(config.DefaultConfigFile)).(string)
	if !ok {
		t.Fatalf("ConfigMap has no %s", filepath.Base(config.DefaultConfigFile))
	}
	conf := filepath.Join(t.TempDir(), "symroute.conf")
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse([]string{"--listen", "--config", conf}); err != nil {
		t.Errorf("the ConfigMap's symroute.conf: %v", err)
	}
}

// Memory for a pass over 100k routes: requested, twice that as the limit,
// and the Go runtime's soft limit between.
func TestDaemonSetMemory(t *testing.T) {
	_, ds := readManifest(t)
	c := maps(ds, "spec", "template", "spec", "containers")[0]
	request := quantity(t, str(t, c, "resources", "requests", "memory"))
	limit := quantity(t, str(t, c, "resources", "limits", "memory"))
	var goLimit int64
	for _, e := range maps(c, "env") {
		if e["name"] == "GOMEMLIMIT" {
			goLimit = quantity(t, strings.TrimSuffix(str(t, e, "value"), "B"))
		}
	}
	if request < peak100k || limit < 2*peak100k {
		t.Errorf("memory request %d, limit %d: want at least %d and %d (a 100k-route pass, twice over)", request, limit, peak100k, 2*peak100k)
	}
	if goLimit <= peak100k || goLimit >= limit {
		t.Errorf("GOMEMLIMIT %d: want it above a 100k pass's %d and under the limit %d", goLimit, peak100k, limit)
	}
}

// quantity reads a Kubernetes memory quantity in Ki, Mi or Gi (the Go
// runtime's KiB, MiB, GiB, without their B).
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	for suffix, shift := range map[string]uint{"Ki": 10, "Mi": 20, "Gi": 30} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err == nil && v > 0 {
				return v << shift
			}
		}
	}
	t.Fatalf("memory quantity %q: want N followed by Ki, Mi or Gi", s)
	return 0
}
