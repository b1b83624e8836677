package component

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchSettle is how long a Watcher waits after a change for the rest of the same
// operation (a load writes a module, its metadata and its policy, each by a rename)
// before it signals, so that one load wakes its reader once.
const watchSettle = 15 * time.Millisecond

// A Watcher signals changes in folders that another process (the CLI) writes: the
// components folder and the secrets folder. It uses the system's file notifications
// (inotify, kqueue, ReadDirectoryChangesW) through fsnotify; a folder it cannot watch
// (no notifications on that system or file system, no folder yet, the watch limit
// reached) is not watched, and the reader's periodic check remains the only way to
// notice its changes. Signals say only that something may have changed: the reader
// reads the folders itself, as its periodic check does.
type Watcher struct {
	// C receives a value after a change in a watched folder. It holds at most one:
	// changes made while the reader is busy are reported once.
	C <-chan struct{}

	c       chan struct{}
	w       *fsnotify.Watcher // nil when nothing could be watched
	watched []string
	done    chan struct{}
}

// Watch starts watching dirs, until ctx ends. It logs (at Info) each folder it cannot
// watch and why, so that a user can tell why changes are noticed late (one that does
// not exist yet only at Debug); it never fails.
func Watch(ctx context.Context, log *slog.Logger, dirs ...string) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := make(chan struct{}, 1)
	wt := &Watcher{C: c, c: c, done: make(chan struct{})}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Info("file notifications are not available: changes made by other processes are noticed by polling", "err", err)
		close(wt.done)
		return wt
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			level := slog.LevelInfo
			if errors.Is(err, fs.ErrNotExist) {
				level = slog.LevelDebug // not made yet: nothing to notice there
			}
			log.Log(ctx, level, "cannot watch a folder: its changes are noticed by polling", "dir", d, "err", err)
			continue
		}
		wt.watched = append(wt.watched, d)
	}
	if len(wt.watched) == 0 {
		w.Close()
		close(wt.done)
		return wt
	}
	wt.w = w
	go wt.run(ctx, log)
	return wt
}

// Watching returns the folders notifications are received for.
func (wt *Watcher) Watching() []string { return wt.watched }

// Done is closed once the Watcher has stopped, after its context ended.
func (wt *Watcher) Done() <-chan struct{} { return wt.done }

func (wt *Watcher) run(ctx context.Context, log *slog.Logger) {
	defer close(wt.done)
	defer wt.w.Close()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wt.w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue // a folder's contents do not change with its modes
			}
			settle.Reset(watchSettle)
		case err, ok := <-wt.w.Errors:
			if !ok {
				return
			}
			// An overflowed queue loses events: signal, so the reader looks.
			log.Debug("file notifications", "err", err)
			settle.Reset(watchSettle)
		case <-settle.C:
			select {
			case wt.c <- struct{}{}:
			default: // one pending signal stands for any number of changes
			}
		}
	}
}
