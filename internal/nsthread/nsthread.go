package nsthread

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on a thread that enters ns for fn's whole run and is then
// discarded: the goroutine never unlocks it, so the runtime retires the
// thread instead of handing it, still in ns, to other goroutines. Sockets
// made by fn stay in ns and work from any thread afterwards. ns <= 0 runs
// fn on the calling goroutine (fd 0 is stdin, never a namespace).
func Do(ns netns.NsHandle, fn func() error) error {
	if ns <= 0 {
		return fn()
	}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		if err := netns.Set(ns); err != nil {
			ch <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

// DoNamed is Do in the namespace named name (/run/netns/NAME).
func DoNamed(name string, fn func() error) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer h.Close()
	return Do(h, fn)
}
