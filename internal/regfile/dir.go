package regfile

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// dirFlags open a directory to work in: files made, renamed and read
// relative to it, and fsync of the directory itself (an O_PATH
// descriptor would not do for that).
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC

// OpenDir opens the directory at path without following a symbolic link in
// any component of it (the error is then syscall.ELOOP): whoever may write
// one of its parents could otherwise put a link there and send what is
// written into the directory anywhere. openat2's RESOLVE_NO_SYMLINKS does
// that in one call where the kernel has it (Linux 5.6); elsewhere the path
// is walked a component at a time.
func OpenDir(path string) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{Flags: dirFlags, Resolve: unix.RESOLVE_NO_SYMLINKS})
	// ENOSYS: a kernel before openat2. EPERM: a system-call filter older
	// than it, as systemd 239's @system-service (RHEL 8) with the units'
	// SystemCallErrorNumber=EPERM.
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		fd, err = walkDir(path)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// walkDir opens the directory at path one component at a time, none of
// them through a link.
func walkDir(path string) (int, error) {
	start := "."
	if strings.HasPrefix(path, "/") {
		start = "/"
	}
	fd, err := unix.Open(start, dirFlags, 0)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(path, "/") {
		if c == "" || c == "." {
			continue
		}
		next, err := unix.Openat(fd, c, dirFlags|unix.O_NOFOLLOW, 0)
		if errors.Is(err, unix.ENOTDIR) {
			// O_DIRECTORY is checked before O_NOFOLLOW: a link to a
			// directory is ENOTDIR, and is told apart here.
			var st unix.Stat_t
			if unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
