package journal

// Store is where runs are journaled: the configuration directory's
// files (Files), or a backend shared by several controllers. Every
// command that writes or reads runs goes through one.
type Store interface {
	// Create starts the journal of a new run (see the package
	// function Create).
	Create(run *Run) (*Journal, error)
	// Open continues the journal of an existing run (see Open); a run
	// whose writer is alive is refused with a *RunningError.
	Open(run *Run) (*Journal, error)
	// Read loads a run by id or unique id prefix, a run whose writer
	// died reported as interrupted.
	Read(id string) (*Run, error)
	// List returns every run, oldest first.
	List() ([]*Run, error)
	// Remove deletes a run that is not running.
	Remove(id string) error
	// Where names the store in messages: the runs directory, or the
	// backend.
	Where() string
}

// Files is the store of a configuration directory's files,
// .tend/runs, which needs no setup.
func Files(configDir string) Store { return fileStore(configDir) }

type fileStore string

var _ Store = fileStore("")

func (d fileStore) Create(run *Run) (*Journal, error) { return Create(string(d), run) }
func (d fileStore) Open(run *Run) (*Journal, error)   { return Open(string(d), run) }
func (d fileStore) Read(id string) (*Run, error)      { return Read(string(d), id) }
func (d fileStore) List() ([]*Run, error)             { return List(string(d)) }
func (d fileStore) Remove(id string) error            { return Remove(string(d), id) }
func (d fileStore) Where() string                     { return Dir(string(d)) }

// MarkInterrupted reports a run whose writer died: a run still
// "running" becomes "interrupted", its entries that were applying or
// reverting "unknown" (whether the change reached the host is not
// known). Stores call it when they read a run nobody is writing.
func (r *Run) MarkInterrupted() {
	if r.Outcome != "running" {
		return
	}
	r.Outcome = "interrupted"
	for _, h := range r.Hosts {
		for _, e := range h.Changes {
			if inFlight(e.Status) {
				e.Status = Unknown
			}
		}
	}
}
