// Package crashpoint names the steps of wassette's multi-step writes, so that crash tests
// can stop a real process at each one and check what a crash there leaves behind.
//
// Production code calls Reach at each step; it does nothing unless a test has called
// Set, which only a test binary (running as a helper process) does.
package crashpoint

import "sync/atomic"

var hook atomic.Pointer[func(step string)]

// Reach marks that the write in progress has reached step.
func Reach(step string) {
	if f := hook.Load(); f != nil {
		(*f)(step)
	}
}

// Set makes Reach call f at every step; nil removes it. Only tests call Set.
func Set(f func(step string)) {
	if f == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&f)
}
