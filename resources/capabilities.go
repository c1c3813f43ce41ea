package resources

// The generic layers (planner, engine, renderers, rollback) never ask a
// resource's type name or look for an attribute by name: what they need
// to know, a type says through these capabilities.

// Occupant is implemented by types whose resources occupy a path of the
// host's file system: the planner orders their changes by it (a directory
// is created before what it holds, and removed after), and what is read
// at that path is theirs.
type Occupant interface {
	// Occupies returns the path st occupies, or "".
	Occupies(st *State) string
}

// Command is implemented by types whose change runs a command rather than
// bringing something to a state: plans say it "will run", and verifying
// it after apply does not ask that its guard now holds (a command's
// `creates` may legitimately stay unmet).
type Command interface {
	// RunsCommand marks the type.
	RunsCommand()
}

// ContentBackuper is implemented by types whose changes keep the content
// they replace in a backup on the host (under the run's backup
// directory): a rollback preview shows what it will put back.
type ContentBackuper interface {
	// ContentBackup returns the host path of the backup a change's undo
	// data names, or "" when the change made none.
	ContentBackup(undo Undo) string
}

// Versioned is implemented by types whose resources are software at a
// version (packages): a change record lists their upgrades, installs and
// removals among a change's risks.
type Versioned interface {
	// Version returns the version st holds, or "".
	Version(st *State) string
}

// Identifier is implemented by types that name their resources by some of
// their attributes (a file by its path): a removal shows them, and a
// rollback describes what it restores beside them.
type Identifier interface {
	// Identity returns the naming attributes.
	Identity() []string
}
