//go:build wasip1

package guest

import "unsafe"

// request asks the host to perform the JSON-encoded request at reqPtr. It
// stores the result on the host side, writes its length to resultLen and
// returns a status (see statusOK).
//
//go:wasmimport wassette_http request
func request(reqPtr unsafe.Pointer, reqLen uint32, resultLen *uint32) uint32

// takeResult copies the pending result into the buffer, which must be at
// least as long as the length reported by request, and returns the number of
// bytes copied (0 if the buffer is too small or nothing is pending).
//
//go:wasmimport wassette_http take_result
func takeResult(bufPtr unsafe.Pointer, bufLen uint32) uint32

func hostRequest(in []byte) (uint32, []byte) {
	var n uint32
	status := request(unsafe.Pointer(unsafe.SliceData(in)), uint32(len(in)), &n)
	if status == statusInvalid {
		return status, nil
	}
	out := make([]byte, n)
	if n > 0 {
		if got := takeResult(unsafe.Pointer(unsafe.SliceData(out)), n); got != n {
			return statusInvalid, []byte("wassette http: host returned a truncated result")
		}
	}
	return status, out
}
