// Package test holds end-to-end tests: they build the wassette binary once and run it
// as a separate process, as a user or an MCP client would, in a temporary home.
package test

import (
	"os"
	"testing"

	"github.com/wassette/wassette/internal/keyringtest"
	"github.com/wassette/wassette/internal/wasmtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeBuild()
	wasmtest.Cleanup()
	keyringtest.Stop()
	os.Exit(code)
}
