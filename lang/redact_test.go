package lang

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestFunctionErrorsQuoteNoSensitive: a function given a sensitive value
// it cannot use says so without the value, whether or not the value was
// registered for redaction (a value shorter than redact.MinLen never is);
// a value that is not sensitive is still quoted, to help.
func TestFunctionErrorsQuoteNoSensitive(t *testing.T) {
	for _, tc := range []struct {
		val       cty.Value
		secret    string
		sensitive bool
	}{
		{cty.StringVal("not-a-number-unregistered").Mark(Sensitive), "not-a-number-unregistered", true},
		{cty.StringVal("xy").Mark(Sensitive), `"xy"`, true},
		{cty.ObjectVal(map[string]cty.Value{"a": cty.StringVal("deep-unregistered-value").Mark(Sensitive)}), "deep-unregistered-value", true},
		{cty.StringVal("plain-value"), "plain-value", false},
	} {
		expr, diags := hclsyntax.ParseExpression([]byte(`tonumber(try_me)`), "t.hcl", hcl.InitialPos)
		if tc.val.Type().IsObjectType() {
			expr, diags = hclsyntax.ParseExpression([]byte(`tonumber(try_me.a)`), "t.hcl", hcl.InitialPos)
		}
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		ctx := &hcl.EvalContext{
			Functions: Functions(t.TempDir(), nil),
			Variables: map[string]cty.Value{"try_me": tc.val},
		}
		_, diags = expr.Value(ctx)
		if !diags.HasErrors() {
			t.Fatalf("%#v: no error", tc.val)
		}
		msg := diags.Error()
		if !strings.Contains(msg, "cannot convert") {
			t.Errorf("the error no longer says what is wrong: %s", msg)
		}
		if got := strings.Contains(msg, tc.secret); got == tc.sensitive {
			t.Errorf("sensitive %v, value quoted %v: %s", tc.sensitive, got, msg)
		}
	}
}

// TestFunctionsKeepMarks: the wrapping that scrubs errors leaves the
// results of functions marked as before.
func TestFunctionsKeepMarks(t *testing.T) {
	expr, _ := hclsyntax.ParseExpression([]byte(`upper(s)`), "t.hcl", hcl.InitialPos)
	v, diags := expr.Value(&hcl.EvalContext{
		Functions: Functions(t.TempDir(), nil),
		Variables: map[string]cty.Value{"s": cty.StringVal("abc").Mark(Sensitive)},
	})
	if diags.HasErrors() || !v.HasMark(Sensitive) {
		t.Errorf("upper(sensitive) = %#v, %v: want a sensitive value", v, diags)
	}
}
