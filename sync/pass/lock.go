package pass

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Lock is an exclusive flock on a file, held until Unlock. flock rather
// than a pid file: the kernel drops it when the process dies, so a killed
// pass never wedges the next one.
type Lock struct{ f *os.File }

// ErrLockBusy is returned when the lock is not had within the wait.
var ErrLockBusy = errors.New("another pass holds the lock")

// AcquireLock takes the lock at path, making its directory if missing (the
// package's tmpfiles.d makes /run/symroute too; a hand-run binary must not
// depend on it). wait <= 0 waits for as long as it takes.
func AcquireLock(path string, wait time.Duration) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("make lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if wait <= 0 {
		if err := flock(f, unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return &Lock{f}, nil
	}
	deadline := time.Now().Add(wait)
	for {
		err := flock(f, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &Lock{f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ErrLockBusy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.f.Close() }
