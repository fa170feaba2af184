// Package pricing knows what models cost: an embedded, dated catalogue of
// list prices (catalogue.json), prices files in Polygate's format or in
// LiteLLM's model_prices_and_context_window.json format, and the matching
// of an upstream model id (dated snapshots, Bedrock, Vertex and Gemini
// forms, LiteLLM "provider/model" keys) to a catalogue entry. It imports
// only Polygate's providers package, for providers.Price.
package pricing

import (
	_ "embed"
	"slices"
	"strings"
	"sync"

	"github.com/polygate/polygate/providers"
)

// Entry is one priced model of a catalogue.
type Entry struct {
	// Model is the entry's name: a model id or the family id its dated
	// snapshots start with.
	Model string `json:"-"`
	// Aliases are other ids priced the same.
	Aliases []string `json:"aliases,omitempty"`
	// Provider is the provider the price is the list price of (openai,
	// anthropic, gemini, bedrock, or a LiteLLM provider such as
	// vertex_ai-language-models); empty when unknown.
	Provider string `json:"provider,omitempty"`
	// Price is the price, in USD per million tokens.
	Price providers.Price `json:"price"`
	// Source is where the entry comes from: "catalogue" for the embedded
	// catalogue, else the prices file's path.
	Source string `json:"source"`

	layer  int    // higher layers were merged over lower ones
	family string // Provider's family (see Family)
}

// Source is one layer of a catalogue: the embedded catalogue or a prices
// file.
type Source struct {
	// Name is "catalogue" or the file's path.
	Name string `json:"name"`
	// AsOf is the date the prices were read (YYYY-MM-DD), when known.
	AsOf string `json:"as_of,omitempty"`
	// Entries is how many priced entries it has.
	Entries int `json:"entries"`
}

// Catalogue is a set of priced models, indexed for Lookup. A Catalogue is
// immutable and safe for concurrent use; a nil *Catalogue prices nothing.
type Catalogue struct {
	entries []Entry // sorted by Model
	sources []Source
	byCanon map[string][]candidate // canonical name → ranked candidates
}

// candidate is an entry a canonical name leads to, and the name (model or
// alias) that led there.
type candidate struct {
	entry int
	layer int
	name  string
}

//go:embed catalogue.json
var catalogueJSON []byte

// EmbeddedName is the source name of the embedded catalogue.
const EmbeddedName = "catalogue"

var embedded = sync.OnceValue(func() *Catalogue {
	c, err := Parse(EmbeddedName, catalogueJSON)
	if err != nil {
		panic("pricing: the embedded catalogue does not parse: " + err.Error())
	}
	return c
})

// Embedded returns the embedded catalogue of list prices. It is parsed
// once and shared.
func Embedded() *Catalogue { return embedded() }

// newCatalogue indexes entries (whose names must be unique).
func newCatalogue(entries []Entry, sources []Source) *Catalogue {
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Model, b.Model) })
	c := &Catalogue{entries: entries, sources: sources, byCanon: make(map[string][]candidate, len(entries))}
	for i := range entries {
		e := &entries[i]
		e.family = Family(e.Provider)
		for _, name := range append([]string{e.Model}, e.Aliases...) {
			k := canon(name)
			c.byCanon[k] = append(c.byCanon[k], candidate{entry: i, layer: e.layer, name: name})
		}
	}
	for _, cands := range c.byCanon {
		// Later layers first; within a layer the shortest name (the bare
		// id before "azure/gpt-4o" or "openrouter/openai/gpt-4o"), then
		// in name order, so that a lookup never depends on map order.
		slices.SortFunc(cands, func(a, b candidate) int {
			if a.layer != b.layer {
				return b.layer - a.layer
			}
			if len(a.name) != len(b.name) {
				return len(a.name) - len(b.name)
			}
			return strings.Compare(a.name, b.name)
		})
	}
	return c
}

// Merge returns a catalogue with the entries of over added to c's: an
// entry of over replaces c's entry (or alias) of the same name, and
// wherever a model matches entries of both, over's wins. Either may be
// nil.
func (c *Catalogue) Merge(over *Catalogue) *Catalogue {
	if c == nil || len(c.entries) == 0 {
		return over
	}
	if over == nil || len(over.entries) == 0 {
		return c
	}
	top := 0
	for _, e := range c.entries {
		top = max(top, e.layer)
	}
	names := make(map[string]bool, len(over.entries))
	for _, e := range over.entries {
		names[e.Model] = true
		for _, a := range e.Aliases {
			names[a] = true
		}
	}
	entries := make([]Entry, 0, len(c.entries)+len(over.entries))
	for _, e := range c.entries {
		if names[e.Model] {
			continue
		}
		if slices.ContainsFunc(e.Aliases, func(a string) bool { return names[a] }) {
			e.Aliases = slices.DeleteFunc(slices.Clone(e.Aliases), func(a string) bool { return names[a] })
		}
		entries = append(entries, e)
	}
	for _, e := range over.entries {
		e.layer += top + 1
		entries = append(entries, e)
	}
	return newCatalogue(entries, append(slices.Clone(c.sources), over.sources...))
}

// Lookup returns the price of an upstream model id, the name of the entry
// that matched, and whether one did (see Find).
func (c *Catalogue) Lookup(model string) (providers.Price, string, bool) {
	e, ok := c.Find("", model)
	return e.Price, e.Model, ok
}

// Find returns the entry that prices an upstream model id. Matching goes
// in this order, and stops at the first that finds an entry:
//
//  1. the id in its canonical form (lowercase; without a "provider/" or
//     "models/" or "publishers/…/models/" path, a Bedrock region or
//     inference-profile prefix such as "us." or "global.", the
//     "anthropic." vendor prefix of Bedrock ids and a ":0" revision; with
//     a Vertex "@" version written "-"), equal to an entry's name in the
//     same form;
//  2. the longest entry name the id starts with, followed by a separator
//     (- . _ : @) and a snapshot suffix only: a date or a number of 3 or
//     more digits, "v<n>", "latest", "preview" or "exp", then more of
//     these ("gpt-4o-2024-08-06" is gpt-4o, "gemini-2.0-flash-001" is
//     gemini-2.0-flash; "gpt-4o-mini" is not gpt-4o).
//
// Among entries that match equally, those of a later layer (a prices
// file over the embedded catalogue) win, then the one named exactly as
// the id, then one whose provider is of the family of provider (the
// provider module type, e.g. bedrock or vertex; may be empty), then the
// shortest name.
func (c *Catalogue) Find(provider, model string) (Entry, bool) {
	if c == nil || model == "" || len(model) > maxModelLen {
		return Entry{}, false
	}
	fam := Family(provider)
	q := canon(model)
	if cands := c.byCanon[q]; len(cands) > 0 {
		return c.entries[c.pick(cands, model, fam)], true
	}
	rest := true // every token right of the current separator is a later snapshot token
	end := len(q)
	for i := len(q) - 1; i > 0; i-- {
		if !isSep(q[i]) {
			continue
		}
		tok := q[i+1 : end]
		end = i
		if rest && firstSnapshotToken(tok) {
			if cands := c.byCanon[q[:i]]; len(cands) > 0 {
				return c.entries[c.pick(cands, model, fam)], true
			}
		}
		if !laterSnapshotToken(tok) {
			break
		}
	}
	return Entry{}, false
}

// maxModelLen bounds the ids Find looks at; longer ones match nothing.
const maxModelLen = 512

// pick chooses among ranked candidates of one name.
func (c *Catalogue) pick(cands []candidate, raw, family string) int {
	top := cands[0].layer
	best := -1
	for _, k := range cands {
		if k.layer != top {
			break
		}
		if k.name == raw {
			return k.entry
		}
		if best < 0 && family != "" && c.entries[k.entry].family == family {
			best = k.entry
		}
	}
	if best >= 0 {
		return best
	}
	return cands[0].entry
}

// Entries returns the catalogue's entries sorted by name.
func (c *Catalogue) Entries() []Entry {
	if c == nil {
		return nil
	}
	return slices.Clone(c.entries)
}

// Sources returns the catalogue's layers, the embedded catalogue (when
// used) first.
func (c *Catalogue) Sources() []Source {
	if c == nil {
		return nil
	}
	return slices.Clone(c.sources)
}

// Len is the number of entries.
func (c *Catalogue) Len() int {
	if c == nil {
		return 0
	}
	return len(c.entries)
}
