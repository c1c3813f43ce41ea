// Package docs holds tend's documentation and the test that keeps it
// true: every fenced example in README.md and docs/*.md runs
// (examples_test.go).
//
// An example's info string says what it is and how it is checked:
//
//	```hcl                 configuration: `tend validate`; an inventory
//	                       (host, group and defaults blocks): `tend inventory`
//	```ini, ```yaml        an Ansible inventory: `tend inventory -i FILE`
//	```json                one JSON document, or JSON lines
//	```sh                  each `tend ...` line resolves its command and
//	                       flags (`--help`); a script (#!) passes `sh -n`
//	```sh run              runs line by line, as written, in a scratch home
//	                       directory; a line ending in `# exit N` must exit N
//	```LANG file=NAME      also written as NAME beside the later examples of
//	                       the same page (an inventory a configuration needs)
//	```LANG fragment       a part of something larger, not checked: keep rare
//
// Blocks without a language (program output) are not examples.
package docs
