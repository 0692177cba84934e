package testbed

import (
	"bufio"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(5), 5 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	} {
		in := append([]time.Duration(nil), tc.in...)
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("Median changed its input: %v", tc.in)
			}
		}
	}
}

func TestCleanupsRunOnceLastFirst(t *testing.T) {
	var c Cleanups
	var order []int
	c.Add(func() { order = append(order, 1) })
	c.Add(func() { order = append(order, 2) })
	c.Run()
	c.Run()
	if len(order) != 2 || order[0] != 2 || order[1] != 1 {
		t.Errorf("cleanups ran %v, want [2 1]", order)
	}
}

func TestProcStop(t *testing.T) {
	// Ends on SIGTERM: stopped, not killed.
	p, err := Start(exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("sleep 30 exited at once")
	}
	if p.Stop(syscall.SIGTERM, 10*time.Second) {
		t.Error("sleep was killed, want it ended by SIGTERM")
	}
	if !p.Exited() {
		t.Error("Stop returned before the program was reaped")
	}
	// Ignores SIGTERM: killed after the grace.
	cmd := exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p, err = Start(cmd); err != nil {
		t.Fatal(err)
	}
	// The trap is set once the shell says so.
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the shell said %q (%v), want ready", line, err)
	}
	if !p.Stop(syscall.SIGTERM, 300*time.Millisecond) {
		t.Error("a program ignoring SIGTERM was not killed")
	}
	// An ended program is left alone.
	if p.Stop(syscall.SIGTERM, time.Second) {
		t.Error("Stop killed a program that had ended")
	}
}
