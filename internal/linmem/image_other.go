//go:build !linux

package linmem

import (
	"errors"
	"iter"
)

// imageFile is not available here: images are copied.
type imageFile struct {
	size uint64
	view []byte
}

func newImageFile(uint64, iter.Seq2[uint32, []byte]) (*imageFile, error) {
	return nil, errors.New("memory images are copied on this system")
}

func (f *imageFile) mapOver([]byte) error {
	return errors.New("memory images are copied on this system")
}

func (f *imageFile) close() error { return nil }
