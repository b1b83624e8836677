package cm

// handle is an entry of an instance's handle table.
type handle struct {
	rt   *ResourceType
	rep  uint32 // a resource the component defines
	host any    // a resource the host implements
	own  bool
	// scoped marks a borrow lent to the component for one call from the
	// host; it must be dropped before that call returns.
	scoped bool
	lends  int
	live   bool
}

// maxHandles bounds a handle table. The spec allows 2^28; each entry costs
// the host memory outside the call's memory limit, so a component that
// creates handles in a loop is stopped far sooner.
const maxHandles = 1 << 20

// handleTable is the table of resource handles of a component instance.
// Index 0 is never used, so 0 is never a valid handle.
type handleTable struct {
	entries []handle
	free    []uint32
}

func (t *handleTable) add(e handle) (uint32, error) {
	e.live = true
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		t.entries[i] = e
		return i, nil
	}
	if len(t.entries) == 0 {
		t.entries = append(t.entries, handle{})
	}
	if len(t.entries) > maxHandles {
		return 0, trapf("the component holds more than %d resource handles", maxHandles)
	}
	t.entries = append(t.entries, e)
	return uint32(len(t.entries) - 1), nil
}

func (t *handleTable) get(i uint32, rt *ResourceType) (handle, error) {
	if int(i) >= len(t.entries) || !t.entries[i].live {
		return handle{}, trapf("unknown handle %d", i)
	}
	e := t.entries[i]
	if rt != nil && e.rt != rt {
		return handle{}, trapf("handle %d is a %s, not a %s", i, e.rt, rt)
	}
	return e, nil
}

func (t *handleTable) remove(i uint32, rt *ResourceType) (handle, error) {
	e, err := t.get(i, rt)
	if err != nil {
		return e, err
	}
	t.entries[i] = handle{}
	t.free = append(t.free, i)
	return e, nil
}

// clear empties the table and returns the owned host values still in it, in
// reverse order of creation.
func (t *handleTable) clear() []handle {
	var out []handle
	for i := len(t.entries) - 1; i > 0; i-- {
		if e := t.entries[i]; e.live && e.own && !e.rt.local {
			out = append(out, e)
		}
	}
	t.entries, t.free = nil, nil
	return out
}
