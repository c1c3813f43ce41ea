// Package lang loads tend's HCL configuration. Loading is two-stage, as in
// Terraform: the static stage (Load) reads every *.hcl file of the
// configuration directory into variables, roles and resources, keeping
// meta-arguments as expressions and each resource body as an hcl.Body, and
// checks references and dependency cycles; the evaluation stage (Expand)
// decodes each resource for one host with its type's hcldec spec, in
// dependency order, into go-cty values.
package lang
