package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/symroute/symroute/internal/testbed"
)

type config struct {
	runs      int
	bigRuns   int
	routes    int
	million   bool
	bin       string
	scenarios map[string]bool
}

func parseFlags() (config, error) {
	var cfg config
	var scen string
	flag.IntVar(&cfg.runs, "runs", 21, "timed runs per side on the small host (scenario 1)")
	flag.IntVar(&cfg.bigRuns, "big-runs", 9, "timed runs per side on the big host (scenarios 2 and 3)")
	flag.IntVar(&cfg.routes, "routes", 100000, "main routes on the big host, half via each link")
	flag.StringVar(&cfg.bin, "bin", "", "symroute-sync binary to time (default: build ./cmd/symroute-sync)")
	flag.BoolVar(&cfg.million, "million", false, "also run scenarios 2-4 with 1,000,000 main routes (minutes, and a few GB of kernel memory)")
	flag.StringVar(&scen, "scenarios", "1,2,3,4,5", "comma-separated scenarios to run")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./bench [flags]   (as root; see bench/doc.go)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if cfg.runs < 1 || cfg.bigRuns < 1 {
		return cfg, errors.New("-runs and -big-runs must be at least 1")
	}
	if cfg.routes < 2 || cfg.routes > maxRoutes {
		return cfg, fmt.Errorf("-routes must be between 2 and %d", maxRoutes)
	}
	cfg.scenarios = map[string]bool{}
	for _, s := range strings.Split(scen, ",") {
		switch s = strings.TrimSpace(s); s {
		case "1", "2", "3", "4", "5":
			cfg.scenarios[s] = true
		default:
			return cfg, fmt.Errorf("unknown scenario %q (want 1 to 5)", s)
		}
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigc
		fmt.Fprintf(os.Stderr, "bench: %v: removing namespaces\n", s)
		cleanup()
		os.Exit(130)
	}()
	err = run(cfg)
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	if os.Geteuid() != 0 {
		return testbed.ErrNotRoot
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("iproute2's ip is needed: %w", err)
	}
	start := time.Now()
	tmp, err := os.MkdirTemp("", "symroute-bench-")
	if err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	cleanups.Add(func() { os.RemoveAll(tmp) })

	e := &env{cfg: cfg, tmp: tmp}
	if err := e.buildFloors(); err != nil {
		return err
	}
	oursErr := e.findOurs()
	if oursErr != nil {
		// The reference side and the setup are still worth seeing; the run fails at the end.
		e.ours = ""
		progress("symroute-sync unavailable, timing the reference side only: %v", oursErr)
	}
	rows, err := e.runScenarios()
	if err != nil {
		return err
	}
	if err := e.report(rows); err != nil {
		return err
	}
	fmt.Printf("total %s\n", time.Since(start).Round(time.Second))
	if oursErr != nil {
		return fmt.Errorf("symroute-sync not timed: %w", oursErr)
	}
	return nil
}

// buildFloors builds the programs that time the floors: bench/dumponly and bench/insertonly.
func (e *env) buildFloors() error {
	var err error
	if e.dumpOnly, err = build(e.tmp, "./bench/dumponly", "dumponly"); err != nil {
		return err
	}
	e.insertOnly, err = build(e.tmp, "./bench/insertonly", "insertonly")
	return err
}

// findOurs sets e.ours to the symroute-sync to time: -bin's, or one built from this tree.
func (e *env) findOurs() error {
	var err error
	if e.cfg.bin != "" {
		if e.ours, err = filepath.Abs(e.cfg.bin); err == nil {
			_, err = os.Stat(e.ours)
		}
		return err
	}
	e.ours, err = build(e.tmp, "./cmd/symroute-sync", "symroute-sync")
	return err
}

// runScenarios runs the scenarios chosen and returns their rows, in order.
func (e *env) runScenarios() ([]row, error) {
	cfg := e.cfg
	// Names carry the pid so that concurrent or crashed runs never collide.
	prefix := fmt.Sprintf("symroute-bench-%d", os.Getpid())
	var rows []row
	if cfg.scenarios["1"] {
		rs, err := e.small(prefix + "-small")
		if err != nil {
			return nil, fmt.Errorf("scenario 1: %w", err)
		}
		rows = append(rows, rs...)
	}
	scales := []int{cfg.routes}
	if cfg.million {
		scales = append(scales, 1000000)
	}
	for i, n := range scales {
		if !cfg.scenarios["2"] && !cfg.scenarios["3"] && !cfg.scenarios["4"] {
			break
		}
		rs, err := e.big(fmt.Sprintf("%s-big%d", prefix, i), n, cfg.scenarios)
		if err != nil {
			return nil, fmt.Errorf("scenarios 2-4 at %s routes: %w", fmtCount(n), err)
		}
		rows = append(rows, rs...)
	}
	if cfg.scenarios["5"] {
		rs, err := e.manyAddrs(prefix+"-many", 64, 64)
		if err != nil {
			return nil, fmt.Errorf("scenario 5: %w", err)
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

// report prints the table of rows and what its columns mean.
func (e *env) report(rows []row) error {
	fmt.Println()
	if err := printTable(os.Stdout, rows); err != nil {
		return fmt.Errorf("print table: %w", err)
	}
	fmt.Println()
	ours := "symroute-sync"
	if e.ours == "" {
		ours = "symroute-sync (unavailable)"
	}
	fmt.Printf("ours: %s --once --lock-file L (scenario 3: from empty tables, --flush between runs, untimed)\n", ours)
	fmt.Printf("floors (1f, 2f): bench/dumponly in the ours column, raw RTM_GETROUTE dumps of IPv4 and IPv6 as a pass asks for them (main, then each link's table), output discarded; 2w: the same, every table in one dump a family (-whole); 5f: as 2f with links, addresses and rules (-all); 3f: bench/insertonly, the mirrored routes sent over raw netlink in batches of 128 with one ack a batch\n")
	fmt.Printf("reference: ip route show table all >/dev/null (IPv4 only, as ip does by default); scenario 3: ip -batch adding the mirrored routes into tables 1000+ifindex, flushed between runs\n")
	fmt.Printf("times: fork+exec to reaped exit, wall clock, median; each side warmed up once, sides alternated; host %s, ip %s\n", kernelRelease(), ipVersion())
	fmt.Printf("peak RSS: the child's ru_maxrss, which Linux never lets fall below the forking parent's peak RSS; floor (what true reports): %s\n", strings.Join(e.floors, ", "))
	for _, n := range e.notes {
		fmt.Println("note:", n)
	}
	return nil
}

// build compiles a package of this module into tmp, static as packaged.
func build(tmp, pkg, name string) (string, error) {
	out := filepath.Join(tmp, name)
	return out, testbed.Build(pkg, out)
}

func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "?"
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return "linux " + string(b)
}

func ipVersion() string {
	out, err := exec.Command("ip", "-V").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	for _, w := range f {
		if strings.HasPrefix(w, "iproute2-") {
			return strings.TrimRight(strings.TrimPrefix(w, "iproute2-"), ",")
		}
	}
	return strings.TrimSpace(string(out))
}
