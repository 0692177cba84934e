package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/symroute/symroute/internal/testbed"
)

// cleanups run once, at normal exit, on error and on a signal, so that no
// namespace outlives the benchmark.
var cleanups testbed.Cleanups

func cleanup() { cleanups.Run() }

// addNetns creates a named namespace, removed at cleanup.
func addNetns(name string) error { return testbed.AddNetns(name, cleanups.Add) }

// ipIn runs one untimed `ip -n NS ...` command: every setup command goes
// through here, so nothing can land in the host's network.
func ipIn(ns string, args ...string) error { return testbed.IP(ns, args...) }

// ifindex reads a link's index inside ns: tables are 1000+ifindex.
func ifindex(ns, link string) (int, error) {
	out, err := exec.Command("ip", "-n", ns, "-j", "link", "show", "dev", link).Output()
	if err != nil {
		return 0, fmt.Errorf("ip -n %s link show dev %s: %w", ns, link, err)
	}
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("parse ip -j link show dev %s: %v (%q)", link, err, out)
	}
	return links[0].Ifindex, nil
}

func netnsPath(name string) string { return "/run/netns/" + name }

func inode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// runner starts children from an OS thread that has joined a benchmark namespace. Go forks
// from the calling thread, and a child inherits that thread's network namespace, so both sides
// run in the namespace as plain fork+exec with no `ip netns exec` (one more exec and a mount
// namespace setup) distorting the ratios.
type runner struct {
	ns      string
	nsIno   uint64
	devnull *os.File
	stderr  *os.File // reused for every child, so no copying goroutine runs during a timing
}

// inNetns runs f on a locked OS thread inside the named namespace. The thread is never unlocked:
// when the goroutine returns, the runtime retires the thread instead of handing it, still in
// the namespace, to other goroutines.
func inNetns(ns, tmp string, f func(r *runner) error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			want, err := inode(netnsPath(ns))
			if err != nil {
				return err
			}
			fd, err := unix.Open(netnsPath(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open namespace %s: %w", ns, err)
			}
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("enter namespace %s: %w", ns, err)
			}
			r := &runner{ns: ns, nsIno: want}
			if err := r.check(); err != nil {
				return err
			}
			if r.devnull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
				return fmt.Errorf("open %s: %w", os.DevNull, err)
			}
			defer r.devnull.Close()
			if r.stderr, err = os.CreateTemp(tmp, "stderr-"); err != nil {
				return fmt.Errorf("create stderr file: %w", err)
			}
			defer r.stderr.Close()
			if err := r.verifyChild(); err != nil {
				return err
			}
			return f(r)
		}()
	}()
	return <-errc
}

// check refuses to go on unless this thread is in the benchmark's namespace: a child started
// anywhere else would change the host's routes.
func (r *runner) check() error {
	got, err := inode("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	if got != r.nsIno {
		return fmt.Errorf("thread is in network namespace %d, not %s (%d): refusing to run", got, r.ns, r.nsIno)
	}
	return nil
}

// verifyChild shows that a child started by this runner really is in the namespace: it reads
// its own namespace and the links it sees.
func (r *runner) verifyChild() error {
	out, err := r.output("readlink", "/proc/self/ns/net")
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("net:[%d]", r.nsIno); strings.TrimSpace(out) != want {
		return fmt.Errorf("child runs in %s, want %s (namespace %s)", strings.TrimSpace(out), want, r.ns)
	}
	out, err = r.output("ip", "-o", "link", "show")
	if err != nil {
		return err
	}
	for _, l := range []string{"em1", "em2"} {
		if !strings.Contains(out, ": "+l+"@") && !strings.Contains(out, ": "+l+":") {
			return fmt.Errorf("child in namespace %s does not see link %s:\n%s", r.ns, l, out)
		}
	}
	return nil
}

// sample is one timed run: wall clock from fork to reaped exit, and the child's peak RSS.
type sample struct {
	wall      time.Duration
	maxRSSKiB int64
}

// timed runs argv once as a fresh process with stdout to /dev/null and returns its sample; a
// non-zero exit is an error carrying the child's stderr.
func (r *runner) timed(argv []string) (sample, error) {
	if err := r.check(); err != nil {
		return sample{}, err
	}
	if err := r.stderr.Truncate(0); err != nil {
		return sample{}, fmt.Errorf("truncate stderr file: %w", err)
	}
	if _, err := r.stderr.Seek(0, 0); err != nil {
		return sample{}, fmt.Errorf("rewind stderr file: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = r.devnull
	cmd.Stderr = r.stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	err := cmd.Wait()
	wall := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(r.stderr.Name())
		return sample{}, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(msg))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, errors.New("no rusage for child")
	}
	return sample{wall: wall, maxRSSKiB: ru.Maxrss}, nil
}

// output runs an untimed helper inside the namespace and returns its stdout.
func (r *runner) output(argv ...string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}

// countLines runs an untimed helper inside the namespace and counts its output lines, streaming,
// so that 100k routes never sit in this process's memory (see recordFloor).
func (r *runner) countLines(argv ...string) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("pipe for %s: %w", argv[0], err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	n := 0
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		n++
	}
	scanErr := sc.Err()
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	if scanErr != nil {
		return 0, fmt.Errorf("read output of %s: %w", strings.Join(argv, " "), scanErr)
	}
	return n, nil
}

// monitor watches the namespace for route and rule changes while no-op passes run: a pass on a
// synced host must make no netlink write, and a timing of one that does is not a no-op timing.
type monitor struct {
	cmd *exec.Cmd
	out *os.File
}

func (r *runner) startMonitor(tmp string) (*monitor, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	out, err := os.CreateTemp(tmp, "monitor-")
	if err != nil {
		return nil, fmt.Errorf("create monitor file: %w", err)
	}
	cmd := exec.Command("ip", "monitor", "route", "rule")
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start ip monitor: %w", err)
	}
	cleanups.Add(func() { _ = cmd.Process.Kill() })
	// ip monitor subscribes right after it starts; give it that moment so early events count.
	time.Sleep(100 * time.Millisecond)
	return &monitor{cmd: cmd, out: out}, nil
}

// stop ends the monitor and returns the events it saw.
func (m *monitor) stop() ([]string, error) {
	// Events are delivered asynchronously; let the last ones arrive before counting.
	time.Sleep(200 * time.Millisecond)
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
	defer m.out.Close()
	b, err := os.ReadFile(m.out.Name())
	if err != nil {
		return nil, fmt.Errorf("read monitor output: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}
