package lang

import "unicode/utf8"

// Suggest returns the candidate closest to name when it is close enough
// to be a likely typo (fewer than three edits, and fewer edits than name
// has letters), or "". The first of equally close candidates wins.
func Suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist && d < utf8.RuneCountInString(name) {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean is the sentence a diagnostic adds for a suggestion, or "".
func didYouMean(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" {
		return " Did you mean " + s + "?"
	}
	return ""
}

// editDistance is the optimal string alignment distance: Levenshtein plus
// swapping two adjacent letters as one edit, the commonest typo ("wbe").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
