//go:build !wasip1

package guest

// hostRequest outside wasip1: there is no wassette host to ask.
func hostRequest([]byte) (uint32, []byte) {
	return statusInvalid, []byte("wassette http: only available inside a wassette component (build with GOOS=wasip1 GOARCH=wasm)")
}
