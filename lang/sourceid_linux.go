package lang

import (
	"os"
	"syscall"
	"time"
)

// fileIdentity is what identifies a file's content without reading it:
// device, inode, size, and modification and change times in nanoseconds.
type fileIdentity struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
}

// identityOf returns fi's identity, when the system gives it.
func identityOf(fi os.FileInfo) (fileIdentity, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return fileIdentity{}, false
	}
	return fileIdentity{
		Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(),
	}, true
}

// statIdentity returns the identity of the file at p.
func statIdentity(p string) (fileIdentity, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return fileIdentity{}, false
	}
	return identityOf(fi)
}

// settled reports whether the file's modification and change times are
// both before t.
func (id fileIdentity) settled(t time.Time) bool {
	return id.Mtime < t.UnixNano() && id.Ctime < t.UnixNano()
}
