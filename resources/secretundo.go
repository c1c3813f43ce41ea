package resources

// SecretUndoer is implemented by types whose undo data holds secrets,
// such as the previous password hash of an account: the run journal
// stores the values of the keys SecretUndo names encrypted, never in
// clear, and rollback decrypts them before Revert sees them.
//
// Each key is named after the sensitive attribute whose value before the
// change it holds (undo "password_hash" is before's "password_hash"), so
// rollback can also put that value back into the journaled state before
// the run, which left it out, and check the host against it.
type SecretUndoer interface {
	SecretUndo() []string
}

// SecretUndoKeys returns the undo keys of t that hold secrets, nil when
// it has none. Providers OnHost wraps answer for their type.
func SecretUndoKeys(t Type) []string {
	switch w := t.(type) {
	case windowsType:
		t = w.t
	case windowsRefresher:
		t = w.t
	case noWindows:
		t = w.t
	}
	if s, ok := t.(SecretUndoer); ok {
		return s.SecretUndo()
	}
	return nil
}
