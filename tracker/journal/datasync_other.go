//go:build !linux

package journal

import "os"

// datasync uses Sync, which on darwin is F_FULLFSYNC.
func datasync(f *os.File) error { return f.Sync() }
