// Package journal records runs in a write-ahead journal: the intent of
// every change and everything needed to undo it are on disk before the
// change starts, its outcome after, so a run that failed, finished or
// died can be reverted (`tend rollback RUN-ID`), resumed (`tend resume
// RUN-ID`) and audited (`tend runs`). Journals never hold a secret in
// clear: sensitive values of states are left out, and the undo values a
// type declares secret (resources.SecretUndoer) are encrypted (see Keys).
//
// # Files
//
// Each run has one append-only file, .tend/runs/RUN-ID.journal under the
// configuration directory (the file mode 0600, the directories 0700).
// It holds JSON lines (records), each one JSON object with a "rec" kind:
//
//	{"rec":"header","format":"tend-journal/2","id":"RUN-ID"}
//	{"rec":"run","run":{...}}
//	{"rec":"host","i":0,"host":{...}}
//	{"rec":"entry","i":0,"n":3,"entry":{...}}
//
// The first line is always the header; its format names the version of
// this layout (Format). A reader refuses formats it does not know and
// skips record kinds it does not know, so records can be added without
// a new version, and a change to an existing record's meaning needs one.
//
// A run is rebuilt by replaying the records in order onto an empty Run;
// for each kind the last record wins:
//
//   - run: the run's own fields (a Run without its hosts).
//   - host: host number i's own fields (a Host). A host record whose
//     "changes" is a list also sets the host's entries (a host joining the
//     run arrives with its planned changes); with "changes" null the
//     host's entries are kept. i is at most the number of hosts so far:
//     i equal to it appends a host.
//   - entry: entry n of host i, whole (an Entry).
//
// Runs written before this format are one JSON document, RUN-ID.json
// (LegacyFormat); Read and List still read them, and Open converts one to
// a journal file before appending to it. Their writers took no lock, so
// a legacy run still "running" reads as interrupted.
//
// # Keys
//
// A run's secret undo values are sealed with AES-256-GCM under the run's
// own random 256-bit key, as "tend-sealed:1:" and the base64 of the nonce
// and ciphertext, the run id and undo key bound in as additional data.
// The key is made the first time the run has such a value to record,
// durably, before the record that needs it, in KeyDir (the user's state
// directory, outside the configuration directory: a copy of .tend does
// not carry it), RUN-ID.key, mode 0600. A key that cannot be made fails
// the record, so the change is not made; OpenUndo decrypts for rollback
// and reports a missing key as a MissingKeyError naming the run and file.
//
// # Durability
//
// Create writes the header, the run and its hosts to a temporary file,
// fsyncs it, links it into place and fsyncs the directory, so a journal
// is either absent or whole. Every update appends its records with one
// write(2) and then fsyncs the file; Update, UpdateEntries and UpdateHost
// return only once their records are durable, or return the error (a full
// disk, an unwritable file). A failed write makes the journal fail every
// later update too, since the kernel may have dropped the pages it could
// not write: the run's engine must then stop changing hosts. An update
// costs in proportion to what it changed (one entry's record), never to
// the size of the run.
//
// Hosts applying in parallel share writes (group commit): while one write
// and fsync are under way, the records of other updates gather, and the
// next write carries them all.
//
// Only the last write can be torn by a crash (each write is fsynced
// before the next starts), so replay stops at the first line that is
// incomplete or is not JSON: what follows it belongs to the same
// unacknowledged write. Open cuts such a tail off before appending.
//
// # Liveness
//
// The process writing a journal holds an exclusive flock(2) on its file
// for as long as the Journal is open (Create, Open; Close releases it),
// and the run records its Controller (host name) and PID. The kernel
// drops the lock when that process dies, however it dies. Read and List
// try a shared lock on the file (LOCK_SH|LOCK_NB) and read it while
// they hold it: a run whose Outcome is still "running" although nobody
// holds the lock was interrupted, and is reported with Outcome
// "interrupted" and its entries that were "applying" or "reverting" as
// "unknown" (whether the change reached the host is not known). The
// file itself is not changed by reading; Open records the interruption
// when it takes the run over. A shared lock keeps readers from mistaking
// each other for a writer.
package journal
