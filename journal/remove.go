package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Remove deletes run id's journal (and a legacy RUN-ID.json beside it)
// and the key of its secret undo data. A run still being written (its
// journal's lock is held) is refused with a *RunningError.
func Remove(configDir, id string) error {
	dir := Dir(configDir)
	fs, err := files(dir)
	if err != nil {
		return err
	}
	path, ok := fs[id]
	if !ok {
		return fmt.Errorf("no run %q in %s", id, dir)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockWriter(f); err != nil {
		if isLocked(err) {
			return &RunningError{ID: id}
		}
		return err
	}
	for _, p := range []string{filepath.Join(dir, id+".journal"), filepath.Join(dir, id+".json")} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if kp, err := KeyPath(id); err == nil {
		if err := os.Remove(kp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return syncDir(dir)
}
