package server

import (
	"context"
	"log"
	"log/slog"
)

// levelShift logs info records at debug level.
type levelShift struct{ h slog.Handler }

func shift(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (s levelShift) Enabled(ctx context.Context, l slog.Level) bool {
	return s.h.Enabled(ctx, shift(l))
}

func (s levelShift) Handle(ctx context.Context, r slog.Record) error {
	r.Level = shift(r.Level)
	return s.h.Handle(ctx, r)
}

func (s levelShift) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelShift{s.h.WithAttrs(attrs)}
}
func (s levelShift) WithGroup(name string) slog.Handler { return levelShift{s.h.WithGroup(name)} }

// stdLogger adapts log for mcp-go's transports, which log through a *log.Logger.
func stdLogger(log *slog.Logger, level slog.Level) *log.Logger {
	return slog.NewLogLogger(log.Handler(), level)
}
