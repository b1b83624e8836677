package linmem

import (
	"fmt"
	"iter"
	"unsafe"

	"golang.org/x/sys/unix"
)

// imageFile is an image in a sealed memfd: nothing can change it once written, and
// each memory maps it MAP_PRIVATE, so that the pages an instance writes are its own.
type imageFile struct {
	fd   int
	size uint64
	view []byte // the whole file, mapped read-only and shared, for CopyTo
}

// newImageFile writes the image's non-zero pages to a new memfd of size bytes (the
// rest are holes, read as zero without taking memory) and seals it.
func newImageFile(size uint64, pages iter.Seq2[uint32, []byte]) (f *imageFile, err error) {
	fd, err := unix.MemfdCreate("wassette-memory-image", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, fmt.Errorf("size the memory image: %w", err)
	}
	for p, page := range pages {
		for off := 0; off < len(page); {
			n, err := unix.Pwrite(fd, page[off:], int64(p)*PageSize+int64(off))
			if err != nil {
				return nil, fmt.Errorf("write the memory image: %w", err)
			}
			off += n
		}
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("seal the memory image: %w", err)
	}
	view, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the memory image: %w", err)
	}
	return &imageFile{fd: fd, size: size, view: view}, nil
}

// mapOver maps the image copy-on-write over the start of mem, which must be a
// mapping of at least f.size bytes that this package owns.
func (f *imageFile) mapOver(mem []byte) error {
	if uint64(len(mem)) < f.size {
		return fmt.Errorf("a region of %d bytes cannot hold an image of %d", len(mem), f.size)
	}
	_, err := unix.MmapPtr(f.fd, 0, unsafe.Pointer(unsafe.SliceData(mem)), uintptr(f.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	return err
}

func (f *imageFile) close() error {
	err := unix.Munmap(f.view)
	if e := unix.Close(f.fd); err == nil {
		err = e
	}
	return err
}
