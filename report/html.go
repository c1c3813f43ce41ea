package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"

	"github.com/tendhq/tend/plan"
	"github.com/tendhq/tend/redact"
)

//go:embed report.html.tmpl
var pageText string

// page is parsed once; html/template escapes every value by its context
// (text, attribute, the JSON data block), so a hostile host name or file
// content is shown, never run.
var page = template.Must(template.New("report").Parse(pageText))

// HTML renders the report as one self-contained HTML page.
func (r *Report) HTML() ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("rendering the report: %w", err)
	}
	// Every string was redacted as the report was made; this catches
	// a secret in the forms the page gives it (JSON escapes).
	return []byte(redact.String(b.String())), nil
}

// Write renders the report to path atomically (a temporary file in the
// same directory, then a rename), readable by all: it holds no secret.
func (r *Report) Write(path string) error {
	b, err := r.HTML()
	if err != nil {
		return err
	}
	if err := plan.WriteFileAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
