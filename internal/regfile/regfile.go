package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ErrNotRegular is returned for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading if it is a regular file. It does not block
// on a FIFO, and with follow false it does not follow a link at path
// (the error is then syscall.ELOOP).
func Open(path string, follow bool) (*os.File, error) {
	return openAt(unix.AT_FDCWD, path, follow)
}

// OpenIn is Open of name in the directory dir: nothing done to dir's path
// since dir was opened changes which file it is.
func OpenIn(dir *os.File, name string, follow bool) (*os.File, error) {
	f, err := openAt(int(dir.Fd()), name, follow)
	runtime.KeepAlive(dir) // its finalizer would close the descriptor in use
	return f, err
}

func openAt(dirfd int, path string, follow bool) (*os.File, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat(dirfd, path, flags, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Read reads at most limit bytes of the regular file at path (see Open).
func Read(path string, follow bool, limit int64) ([]byte, error) {
	f, err := Open(path, follow)
	return readOpened(f, err, limit)
}

// ReadIn reads at most limit bytes of the regular file name in dir (see
// OpenIn).
func ReadIn(dir *os.File, name string, follow bool, limit int64) ([]byte, error) {
	f, err := OpenIn(dir, name, follow)
	return readOpened(f, err, limit)
}

func readOpened(f *os.File, err error, limit int64) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
