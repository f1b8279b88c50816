package journal

import (
	"errors"
	"os"
	"syscall"
)

// datasync flushes file data and the size, skipping mtime updates.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
