// Command textstats is the heavier tool of wassette's benchmarks: a wassette
// component (WASI preview1, the tool protocol) that does real work on its input:
// it splits a text into words with a regular expression, counts them, sorts them,
// hashes the text and returns the result as JSON. Its binary is larger than the
// echo example's (regexp, sort, crypto/sha256, unicode tables), so that its
// instantiation costs what a typical Go tool's does.
//
//	GOOS=wasip1 GOARCH=wasm go build -o textstats.wasm ./textstats
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/wassette/wassette/guest"
)

var word = regexp.MustCompile(`[\p{L}\p{N}']+`)

type wordCount struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

func stats(args json.RawMessage) (any, error) {
	var in struct {
		Text string `json:"text"`
		Top  int    `json:"top"`
	}
	if err := json.Unmarshal(args, &in); err != nil {
		return nil, err
	}
	if in.Top <= 0 {
		in.Top = 10
	}
	if in.Text == "" {
		return nil, errors.New("text is empty")
	}
	counts := map[string]int{}
	words, upper := 0, 0
	for _, w := range word.FindAllString(in.Text, -1) {
		words++
		if unicode.IsUpper([]rune(w)[0]) {
			upper++
		}
		counts[strings.ToLower(w)]++
	}
	top := make([]wordCount, 0, len(counts))
	for w, n := range counts {
		top = append(top, wordCount{w, n})
	}
	sort.Slice(top, func(i, j int) bool {
		if top[i].Count != top[j].Count {
			return top[i].Count > top[j].Count
		}
		return top[i].Word < top[j].Word
	})
	if len(top) > in.Top {
		top = top[:in.Top]
	}
	sum := sha256.Sum256([]byte(in.Text))
	return map[string]any{
		"lines":       strings.Count(in.Text, "\n") + 1,
		"words":       words,
		"distinct":    len(counts),
		"capitalized": upper,
		"top":         top,
		"sha256":      hex.EncodeToString(sum[:]),
	}, nil
}

func main() {
	guest.Run(guest.Tool{
		Name:        "textstats",
		Description: "Counts the words of a text and returns the most frequent ones with the text's SHA-256.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"},"top":{"type":"integer"}},"required":["text"]}`),
		Handler:     stats,
	})
}
