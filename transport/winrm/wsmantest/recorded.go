package wsmantest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Exchange is one request and the response Windows gave, from a
// recording in testdata/recorded.
type Exchange struct {
	Request, Response string
	// Status is the HTTP status of the response: 200, or the code of a
	// transport_error (500 for faults).
	Status int
}

// ReadRecording reads a recording in pypsrp's YAML format (a "messages"
// list of request/response pairs, each XML on one line, with an optional
// transport_error code), as copied into testdata/recorded.
func ReadRecording(path string) ([]Exchange, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Exchange
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	inError := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "- request: "):
			out = append(out, Exchange{Request: strings.TrimPrefix(line, "- request: "), Status: 200})
			inError = false
		case strings.HasPrefix(line, "  response: "):
			if len(out) == 0 {
				return nil, fmt.Errorf("%s: response before request", path)
			}
			out[len(out)-1].Response = strings.TrimPrefix(line, "  response: ")
		case strings.HasPrefix(line, "  transport_error:"):
			inError = true
		case inError && strings.HasPrefix(strings.TrimSpace(line), "code: "):
			n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "code: "))
			if err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
			out[len(out)-1].Status = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no messages", path)
	}
	return out, nil
}
