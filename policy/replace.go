package policy

import (
	"fmt"
	"path/filepath"

	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/safefile"
)

// Replace installs p as the whole policy of component id, in one atomic write under the
// folder's lock, whatever the file held before (even a file that no longer parses: this
// is how a person repairs one). p is validated first; nothing is written if it is
// invalid.
func (s *Store) Replace(id string, p *Policy) error {
	stem, err := compid.Stem(id)
	if err != nil {
		return err
	}
	out, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("set policy of component %s: %w", compid.Quote(id), err)
	}
	name := stem + ext
	unlock, err := safefile.Lock(s.dir)
	if err != nil {
		return fmt.Errorf("set policy of component %s: %w", compid.Quote(id), err)
	}
	defer unlock()
	defer s.cache.Forget(filepath.Join(s.dir, name))
	return safefile.WriteAtomic(s.dir, name, out)
}
