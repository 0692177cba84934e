package e2e

// The container tests' harness: a podman of the test's own. Its
// configuration, image store and run state live in a temp dir, and every
// call runs in a private mount namespace where the test's directories
// cover the host's /run, /var/lib, /var/cache and /var/tmp: podman 4.3
// writes a few files there that no option moves (the blob-info cache under
// /var/lib/containers, the short-name aliases' lock under
// /var/cache/containers, runc's state under /run/runc), and none of them
// may land on the host. The host's /run/netns is bound into the private
// /run, so `--network ns:/run/netns/NAME` reaches the tests' namespaces.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/symroute/symroute/internal/testbed"
)

// podmanConf is the containers.conf the tests run podman with, never the
// machine's: runc, as crun's setrlimit of RLIMIT_NOFILE is refused on these
// machines; no default ulimits, for the same reason; the cgroupfs manager,
// as the cgroup hierarchy is hybrid and no systemd runs the tests; CNI
// with its configuration in the temp dir (netavark and CNI would otherwise
// take a lock under /etc/cni); events in a file of the run state.
const podmanConf = `[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "%[1]s/tmp/libpod"
static_dir = "%[1]s/storage/libpod"
volume_path = "%[1]s/storage/volumes"
image_copy_tmp_dir = "%[1]s/tmp"

[network]
network_backend = "cni"
network_config_dir = "%[1]s/cni"
`

const podmanStorage = `[storage]
driver = "overlay"
graphroot = "%[1]s/storage"
runroot = "%[1]s/runroot"
`

// privateMounts runs "$@" in the private mount namespace unshare made:
// DIR's directories over the host's, /run/netns carried over.
const privateMounts = `set -e
d=$1; shift
if [ -d /run/netns ]; then mount --rbind /run/netns "$d/run/netns"; fi
mount --rbind "$d/run" /run
mount --bind "$d/var-lib" /var/lib
mount --bind "$d/var-cache" /var/cache
mount --bind "$d/var-tmp" /var/tmp
exec "$@"
`

// hostPodmanPaths are where podman and runc write when nothing moves them:
// none may appear on the host because of a test.
var hostPodmanPaths = []string{"/var/lib/containers", "/var/cache/containers", "/var/tmp/buildah-cache",
	"/run/containers", "/run/libpod", "/run/runc", "/run/crun", "/etc/cni/net.d/cni.lock"}

// podman is a private podman, removed with everything it ran when its
// test ends.
type podman struct {
	t   *testing.T
	dir string
	env []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	requireRootWith(t, "podman", "podman")
	requireRootWith(t, "runc", "runc")
	requireRootWith(t, "util-linux", "unshare", "mount")
	p := &podman{t: t, dir: t.TempDir()}
	mkdirs(t, p.dir, "tmp/libpod", "cni", "run/netns", "var-lib", "var-cache", "var-tmp")
	writeFile(t, filepath.Join(p.dir, "containers.conf"), fmt.Sprintf(podmanConf, p.dir), 0o600)
	writeFile(t, filepath.Join(p.dir, "storage.conf"), fmt.Sprintf(podmanStorage, p.dir), 0o600)
	// No registry to search: an image missing from the store is an
	// error, never a pull.
	writeFile(t, filepath.Join(p.dir, "registries.conf"), "unqualified-search-registries = []\n", 0o600)
	p.env = append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(p.dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(p.dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(p.dir, "registries.conf"),
		"TMPDIR="+filepath.Join(p.dir, "tmp"))

	had := map[string]bool{}
	for _, path := range hostPodmanPaths {
		_, err := os.Lstat(path)
		had[path] = err == nil
	}
	t.Cleanup(func() {
		// Containers first: their processes hold mounts of the store.
		if r := runResult(t, p.cmd("podman", "rm", "--all", "--force", "--time", "10")); r.code != 0 {
			t.Errorf("podman rm --all: %s", r)
		}
		for _, path := range hostPodmanPaths {
			if _, err := os.Lstat(path); err == nil && !had[path] {
				t.Errorf("the test's podman wrote the host's %s", path)
			}
		}
	})
	return p
}

// cmd runs name with args in the private mount namespace, with podman's
// environment.
func (p *podman) cmd(name string, args ...string) *exec.Cmd {
	argv := append([]string{"--mount", "--propagation", "private", "sh", "-c", privateMounts, "sh", p.dir, name}, args...)
	c := exec.Command("unshare", argv...)
	c.Env = p.env
	return c
}

// run runs podman with args and fails the test unless it exits 0.
func (p *podman) run(args ...string) result {
	p.t.Helper()
	r := runResult(p.t, p.cmd("podman", args...))
	if r.code != 0 {
		p.t.Fatalf("podman %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// packageVersion is the packages' version (testbed.PackageVersion), which
// packaging/container/build.sh tags the image with.
func packageVersion(t *testing.T) string {
	t.Helper()
	v, err := testbed.PackageVersion()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// imageConfig is what the tests read of an image's configuration.
type imageConfig struct {
	Entrypoint, Cmd []string
	Labels          map[string]string
}

// build runs packaging/container/build.sh as packaged, without a TAG, and
// returns the image it tagged (podman's name for symroute-sync:VERSION)
// and its configuration.
func (p *podman) build() (string, imageConfig) {
	p.t.Helper()
	if r := runResult(p.t, p.cmd(repoFile("packaging", "container", "build.sh"))); r.code != 0 {
		p.t.Fatalf("packaging/container/build.sh: %s", r)
	}
	img := "localhost/symroute-sync:" + packageVersion(p.t)
	var cfg imageConfig
	out := p.run("image", "inspect", "--format", "{{json .Config}}", img).stdout
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		p.t.Fatalf("podman image inspect %s: %v\n%s", img, err, out)
	}
	return img, cfg
}

// runArgs are the `podman run` flags every test container gets: the
// network namespace n, only CAP_NET_ADMIN, a read-only root (podman puts
// a tmpfs on /run) and the image from the store only: what the DaemonSet
// gives the pod, but the host's network.
func runArgs(n *ns) []string {
	return []string{"--pull=never", "--network", "ns:/run/netns/" + n.Name,
		"--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--read-only"}
}

// memory reads a container's memory from its cgroup: usage now and its
// peak (cgroup v2's memory.current and memory.peak, v1's usage_in_bytes
// and max_usage_in_bytes), in bytes; what podman stats shows is the first.
func (p *podman) memory(name string) (now, peak string) {
	p.t.Helper()
	cg := strings.TrimSpace(p.run("inspect", "--format", "{{.State.CgroupPath}}", name).stdout)
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(b))
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cg, "memory.current")); err == nil {
		return read(filepath.Join("/sys/fs/cgroup", cg, "memory.current")), read(filepath.Join("/sys/fs/cgroup", cg, "memory.peak"))
	}
	v1 := filepath.Join("/sys/fs/cgroup/memory", cg)
	return read(filepath.Join(v1, "memory.usage_in_bytes")), read(filepath.Join(v1, "memory.max_usage_in_bytes"))
}
