package winrm

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// clixmlMarker starts the CLIXML PowerShell writes on stderr when its
// output is redirected (-NonInteractive, -EncodedCommand): error, warning,
// verbose and progress records serialized as <Objs>.
var clixmlMarker = []byte("#< CLIXML")

// DecodeCLIXML replaces the CLIXML blocks in a PowerShell stderr with
// their text: error records as they are, warnings, verbose and debug
// messages with their "WARNING: "-style prefix, progress records dropped.
// Text around the blocks (a native program's own stderr) is kept. Input
// without CLIXML, or CLIXML that does not parse, is returned unchanged.
func DecodeCLIXML(b []byte) []byte {
	i := bytes.Index(b, clixmlMarker)
	if i < 0 {
		return b
	}
	var out bytes.Buffer
	out.Write(b[:i])
	rest := b[i+len(clixmlMarker):]
	rest = bytes.TrimLeft(rest, "\r\n")
	for {
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		if !bytes.HasPrefix(trimmed, []byte("<Objs")) {
			break
		}
		text, n, ok := decodeObjs(trimmed)
		if !ok {
			return b
		}
		out.WriteString(text)
		rest = trimmed[n:]
		if j := bytes.Index(rest, clixmlMarker); j >= 0 && len(bytes.TrimSpace(rest[:j])) == 0 {
			rest = bytes.TrimLeft(rest[j+len(clixmlMarker):], "\r\n")
		}
	}
	if len(rest) > 0 {
		out.Write(DecodeCLIXML(rest))
	}
	return out.Bytes()
}

// decodeObjs decodes one <Objs> element at the start of b and returns its
// text and its length in bytes.
func decodeObjs(b []byte) (string, int, bool) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var text strings.Builder
	depth := 0
	stream := ""
	inS := false
	for {
		tok, err := d.Token()
		if err != nil {
			return "", 0, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			// <S S="Error">text</S> directly under <Objs>.
			if depth == 2 && t.Name.Local == "S" {
				inS = true
				stream = ""
				for _, a := range t.Attr {
					if a.Name.Local == "S" {
						stream = a.Value
					}
				}
			}
		case xml.EndElement:
			if depth == 2 && inS {
				inS = false
			}
			depth--
			if depth == 0 {
				return text.String(), int(d.InputOffset()), true
			}
		case xml.CharData:
			if inS && depth == 2 {
				text.WriteString(streamPrefix(stream, unescapeCLIXML(string(t)), text.Len() == 0 || strings.HasSuffix(text.String(), "\n")))
			}
		}
	}
}

// streamPrefix marks non-error records the way PowerShell's console does.
func streamPrefix(stream, s string, lineStart bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	prefix := ""
	switch strings.ToLower(stream) {
	case "warning":
		prefix = "WARNING: "
	case "verbose":
		prefix = "VERBOSE: "
	case "debug":
		prefix = "DEBUG: "
	}
	if prefix == "" {
		return s
	}
	if lineStart {
		s = prefix + s
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

var clixmlEscape = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)

// unescapeCLIXML decodes CLIXML's _xHHHH_ escapes (UTF-16 code units,
// surrogate pairs in two escapes).
func unescapeCLIXML(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var units []uint16
	var out strings.Builder
	flush := func() {
		if len(units) > 0 {
			out.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	last := 0
	for _, m := range clixmlEscape.FindAllStringSubmatchIndex(s, -1) {
		if m[0] != last {
			flush()
			out.WriteString(s[last:m[0]])
		}
		v, _ := strconv.ParseUint(s[m[2]:m[3]], 16, 16)
		units = append(units, uint16(v))
		last = m[1]
	}
	flush()
	out.WriteString(s[last:])
	return out.String()
}
