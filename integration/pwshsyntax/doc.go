// Package pwshsyntax checks that every PowerShell script tend generates
// parses under an independent grammar: tree-sitter's PowerShell grammar
// (npm tree-sitter-powershell, its WebAssembly build, run by
// web-tree-sitter under Node; versions locked in package-lock.json,
// installed by integration/scripts/pwsh-parse-deps.sh).
//
// The scripts are the golden files the Windows providers' and the WinRM
// transport's tests pin (every probe, apply and revert for their
// fixtures, and the bootstrap), so a generated script that changes
// without its golden fails those tests, and one that stops parsing fails
// this one.
//
// The grammar rejects two constructs PowerShell accepts, which tend's
// scripts therefore avoid rather than this check ignoring them:
//   - a member of a method's result as a command argument
//     (`cmd $a.M(x).P`, `cmd (expr).M(x).P`; `cmd ($a.M(x).P)` parses);
//   - a list of barewords as an argument (`-DaysOfWeek Monday,Friday`;
//     `-DaysOfWeek 'Monday','Friday'` parses).
package pwshsyntax
