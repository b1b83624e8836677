package main

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/wassette/wassette/component/consent"
	"github.com/wassette/wassette/component/registry"
	wasmrt "github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/cmdline"
)

// loadedIDs returns the IDs of the loaded components, read from the components folder
// without starting the runtime; nil if it cannot be read.
func (a *app) loadedIDs() []string {
	metas, _ := registry.At(a.componentsDir()).List()
	ids := make([]string, 0, len(metas))
	for _, m := range metas {
		ids = append(ids, m.ID)
	}
	return ids
}

// noteID tells the person on stderr about an ID a command was given: that no component
// of that ID is loaded (naming the closest loaded ID), or that the module loaded under it
// is not approved to receive its secrets. after says what happens to what the command
// did for an ID that is not loaded ("" says nothing). Commands keep accepting such IDs:
// secrets may be set before the component is loaded.
func (a *app) noteID(id, after string) {
	meta, err := registry.At(a.componentsDir()).Get(id)
	if err != nil {
		msg := fmt.Sprintf("note: no component '%s' is loaded", id)
		if near := closestID(id, a.loadedIDs()); near != "" {
			msg += fmt.Sprintf(" (did you mean '%s'?)", near)
		}
		if after != "" {
			msg += "; " + after
		}
		fmt.Fprintln(a.stderr, msg)
		return
	}
	store, err := consent.Open(a.secretsDir())
	if err != nil {
		return
	}
	rec, err := store.Get(id)
	if err == nil && rec.Approves(meta.Digest) {
		return
	}
	fmt.Fprintf(a.stderr, "note: the module loaded under '%s' (%s, %s) is not one you approved: it gets none of its "+
		"secrets until you check it and run: %s\n", id, meta.Source, meta.Digest, cmdline.Wassette("component", "approve", id))
}

// noteUnknownID is noteID for an ID that a command found not loaded, given the loaded
// components' IDs.
func (a *app) noteUnknownID(id string, loaded []string) {
	if near := closestID(id, loaded); near != "" {
		fmt.Fprintf(a.stderr, "note: did you mean '%s'?\n", near)
	}
}

// closestID returns the loaded ID nearest to id, if one is near enough to be a typo of
// it: the same but for case, or within an edit distance of about a third of its length.
func closestID(id string, loaded []string) string {
	best, bestDist := "", -1
	for _, l := range loaded {
		if l == id {
			return ""
		}
		d := editDistance(strings.ToLower(id), strings.ToLower(l))
		if bestDist < 0 || d < bestDist || (d == bestDist && l < best) {
			best, bestDist = l, d
		}
	}
	limit := max(1, min(3, utf8.RuneCountInString(id)/3))
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (with adjacent transpositions)
// between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// completeComponentIDs completes the first argument with the IDs of the loaded
// components and of the components that have secrets.
func (a *app) completeComponentIDs(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.componentIDs(toComplete), cobra.ShellCompDirectiveNoFileComp
}

// componentIDs returns the known component IDs that start with prefix, sorted.
func (a *app) componentIDs(prefix string) []string {
	ids := a.loadedIDs()
	if store, err := a.secrets(); err == nil {
		if comps, err := store.Components(); err == nil {
			for _, c := range comps {
				ids = append(ids, c.ID)
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return slices.DeleteFunc(ids, func(id string) bool { return !strings.HasPrefix(id, prefix) })
}

// completeSecretKeys completes the second argument with the keys of the component named
// by the first.
func (a *app) completeSecretKeys(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return a.completeComponentIDs(cmd, args, toComplete)
	case 1:
		store, err := a.secrets()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		sec, err := store.Get(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var keys []string
		for _, k := range sec.Keys() {
			if strings.HasPrefix(k, toComplete) {
				keys = append(keys, k)
			}
		}
		return keys, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeToolNames completes the first argument with the tools of the loaded
// components.
func (a *app) completeToolNames(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	metas, _ := registry.At(a.componentsDir()).List()
	var names []string
	for _, m := range metas {
		for _, t := range toolNamesOf(m.Tools) {
			if strings.HasPrefix(t, toComplete) {
				names = append(names, t)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), cobra.ShellCompDirectiveNoFileComp
}

// toolNamesOf returns the names of the tools a component's metadata records.
func toolNamesOf(doc []byte) []string {
	tools, err := wasmrt.ParseTools(doc)
	if err != nil {
		return nil
	}
	return toolNames(tools)
}
