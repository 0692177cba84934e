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

// lockPoll is how often a bounded wait tries the lock again: flock has no
// timeout of its own, and a hook's 3 s wait may lose at most this much.
const lockPoll = 20 * time.Millisecond

// ErrLockBusy is returned when the lock is not had within the wait.
var ErrLockBusy = errors.New("another pass holds the lock")

// AcquireLock takes the lock at path, making its directory if missing (the
// package's tmpfiles.d makes /run/symroute too; a hand-run binary must not
// depend on it). wait <= 0 waits for as long as it takes.
//
// The lock is trusted only if it is a regular file of the running user
// (root in production) that no one else may open: a symlink planted at the
// path would make a pass create or lock a file elsewhere, and a lock others
// can read lets any user hold a shared flock and starve every pass. Its
// directory must be a directory of the running user's or root's that no one
// else may write: in one others may write (/tmp), any user could plant the
// file first, or swap it between two passes so that each locks its own.
func AcquireLock(path string, wait time.Duration) (*Lock, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make lock directory: %w", err)
	}
	if err := checkLockDir(dir); err != nil {
		return nil, fmt.Errorf("lock directory %s: %w; refusing it (use one only root may write, as /run/symroute)", dir, err)
	}
	// O_NONBLOCK: a FIFO planted at the path must not block the open.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o600)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("lock file %s is a symbolic link; refusing it (remove it)", path)
		}
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := checkLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w; refusing it (remove it, the next pass makes it anew)", path, err)
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
		time.Sleep(lockPoll)
	}
}

// checkLock accepts a regular file owned by the running user without group
// or other access.
func checkLock(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return errors.New("not a regular file")
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("owned by uid %d, not %d", st.Uid, os.Geteuid())
	case st.Mode&0o077 != 0:
		return fmt.Errorf("mode %04o lets others open it", st.Mode&0o7777)
	}
	return nil
}

// checkLockDir accepts a directory, not a symbolic link to one, owned by
// the running user or root, that group and others may not write.
func checkLockDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return errors.New("is a symbolic link")
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return errors.New("not a directory")
	case int(st.Uid) != os.Geteuid() && st.Uid != 0:
		return fmt.Errorf("owned by uid %d, neither %d nor root", st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("mode %04o lets others write it", st.Mode&0o7777)
	}
	return nil
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
