//go:build !(linux || darwin)

package linmem

const onUnix = false
