package linmem

import (
	"context"
	"fmt"
	"slices"

	"github.com/tetratelabs/wazero/experimental"
)

// An Image is the initial contents of a module's memory: what its active data
// segments write there when it is instantiated, computed once. Prepare makes one
// and the module that no longer needs its segments; a memory allocated through
// Budget.WithImage starts with the image's contents instead of replaying them.
//
// On Linux the image is a sealed memfd, mapped copy-on-write (MAP_PRIVATE) over the
// start of each new memory: an instance reads the image's pages from the page cache
// and gets a private copy of only the pages it writes; nothing a call writes can
// reach the image or another call. Elsewhere, or where memfd is refused, a new
// memory gets a copy of the image's non-zero pages.
//
// An Image is safe for concurrent use. Close it once no memory can be allocated with
// it any more; memories already mapped keep their contents.
type Image struct {
	size  uint64   // bytes covered, from address 0: a whole number of pages
	pages []uint32 // the pages holding a non-zero byte, in order
	data  []byte   // the non-zero pages, in order, when there is no file
	file  *imageFile
}

// Size returns the bytes the image covers, from the start of memory: through the
// last page a data segment writes a non-zero byte to.
func (img *Image) Size() uint64 { return img.size }

// Mapped reports whether memories map the image copy-on-write (rather than copy it).
func (img *Image) Mapped() bool { return img.file != nil }

// Close releases the image.
func (img *Image) Close() error {
	if img.file == nil {
		return nil
	}
	err := img.file.close()
	img.file = nil
	return err
}

// CopyTo writes the image into mem, the whole bytes of a memory that is zero beyond
// it, as if the module's data segments had been applied. It is the way to use an
// image with a memory not allocated through Budget.WithImage; mem must hold at
// least Size bytes.
func (img *Image) CopyTo(mem []byte) error {
	if uint64(len(mem)) < img.size {
		return fmt.Errorf("a memory of %d bytes cannot hold an image of %d", len(mem), img.size)
	}
	for i, p := range img.pages {
		copy(mem[uint64(p)*PageSize:], img.page(i))
	}
	return nil
}

// page returns the contents of the i-th non-zero page.
func (img *Image) page(i int) []byte {
	if img.file != nil {
		off := uint64(img.pages[i]) * PageSize
		return img.file.view[off : off+PageSize]
	}
	return img.data[i*PageSize : (i+1)*PageSize]
}

// WithImage returns an allocator that shares b's budget and whose first memory
// starts with img's contents; pass it to experimental.WithMemoryAllocator in the
// context that instantiates the module Prepare returned with img. Later memories of
// that allocator start empty, as with b itself.
func (b *Budget) WithImage(img *Image) experimental.MemoryAllocator {
	return &imaged{b: b, img: img}
}

type imaged struct {
	b    *Budget
	img  *Image
	used bool
}

func (a *imaged) Allocate(capacity, max uint64) experimental.LinearMemory {
	m := a.b.Allocate(capacity, max).(*memory)
	if !a.used {
		a.used = true
		m.img = a.img
	}
	return m
}

// Prepare returns module without its active data segments and an Image of what they
// write to the module's memory, or module itself and a nil Image when the segments
// must stay (see below). Instantiated with an allocator from Budget.WithImage, the
// returned module starts exactly as module would, without evaluating and copying
// each segment again: a Go module has tens of thousands of them.
//
// Segments stay when the image cannot be known before instantiation, or may not
// stand for them: when the module defines no memory of its own, or more than one, or
// a shared or 64-bit one; when a segment's offset is not a constant (a global); when
// a segment reaches past the memory's initial size (instantiation must fail, as
// before); and when the module has a start function (an instance whose memory is
// filled by CopyTo after instantiation must not have run code before).
//
// Passive segments are kept, and so are segment indices: where the module can name
// segments (it has a data count section), each active segment becomes an empty
// passive one, which is what the specification makes an active segment after
// instantiation (dropped), so memory.init and data.drop behave as before. Without a
// data count section no code can name a segment, and only passive ones are kept.
//
// An error wrapping ErrMalformed means module could not be read.
func Prepare(module []byte) ([]byte, *Image, error) {
	mems, err := Declared(module)
	if err != nil {
		return nil, nil, err
	}
	var (
		dataStart, dataEnd int // the data section, header included
		body               *reader
		hasCount, hasStart bool
	)
	err = sections(module, func(s moduleSection) (bool, error) {
		switch s.id {
		case 8:
			hasStart = true
		case 11:
			dataStart, dataEnd, body = s.start, s.end, s.body
		case 12:
			hasCount = true
		}
		return true, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if body == nil || hasStart || len(mems) != 1 || mems[0].Imported || mems[0].Shared || mems[0].Memory64 {
		return module, nil, nil
	}
	limit := mems[0].Min * PageSize

	b := newImageBuilder()
	var kept [][]byte // the segments that stay, encoded
	n := body.u32()
	for i := uint32(0); i < n && body.err == nil; i++ {
		segStart := body.off
		flags := body.u32()
		switch flags {
		case 0, 2: // active, in memory 0 (or the given one)
			if flags == 2 && body.u32() != 0 {
				return module, nil, nil
			}
			off, ok := body.constOffset()
			if !ok && body.err == nil {
				return module, nil, nil // an offset only instantiation can compute
			}
			data := body.vec()
			if body.err != nil {
				break
			}
			if off+uint64(len(data)) > limit {
				return module, nil, nil // instantiation fails, and says so
			}
			b.write(off, data)
			if hasCount {
				kept = append(kept, []byte{0x01, 0x00}) // passive, empty
			}
		case 1: // passive
			body.vec()
			kept = append(kept, body.b[segStart:body.off])
		default:
			body.fail(fmt.Sprintf("unknown data segment flags %#x", flags))
		}
	}
	if body.err == nil && body.off != len(body.b) {
		body.fail("the data section has trailing bytes")
	}
	if body.err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, body.err)
	}

	img := b.image()
	out := make([]byte, 0, len(module)-(dataEnd-dataStart)+len(kept)*2+16)
	out = append(out, module[:dataStart]...)
	if len(kept) > 0 {
		sec := appendU32(nil, uint32(len(kept)))
		for _, k := range kept {
			sec = append(sec, k...)
		}
		out = append(out, 11)
		out = appendU32(out, uint32(len(sec)))
		out = append(out, sec...)
	}
	return append(out, module[dataEnd:]...), img, nil
}

// constOffset reads a constant expression giving a segment's offset: i32.const n.
// ok is false for any other expression, which Prepare leaves to instantiation.
func (r *reader) constOffset() (off uint64, ok bool) {
	if r.err != nil || r.off >= len(r.b) || r.b[r.off] != 0x41 {
		return 0, false
	}
	r.off++
	v := r.sleb32()
	if r.byte() != 0x0b {
		return 0, false
	}
	return uint64(uint32(v)), r.err == nil // as an unsigned address, as instantiation reads it
}

// sleb32 reads a signed LEB128 number of 32 bits.
func (r *reader) sleb32() int32 {
	var v int64
	var shift uint
	for {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= 35 {
			r.fail("a number is too large")
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return int32(v)
		}
	}
}

// vec reads a byte vector.
func (r *reader) vec() []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("a data segment runs past the end of its section")
		return nil
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

// imageBuilder applies data segments to a sparse memory of pages.
type imageBuilder struct {
	pages map[uint32][]byte
}

func newImageBuilder() *imageBuilder { return &imageBuilder{pages: map[uint32][]byte{}} }

func (b *imageBuilder) write(off uint64, data []byte) {
	for len(data) > 0 {
		p := uint32(off / PageSize)
		in := off % PageSize
		page := b.pages[p]
		if page == nil {
			page = make([]byte, PageSize)
			b.pages[p] = page
		}
		n := copy(page[in:], data)
		data, off = data[n:], off+uint64(n)
	}
}

// image returns the Image of the pages written, less those left all zero: in a file
// where the system can map one, else in memory.
func (b *imageBuilder) image() *Image {
	img := &Image{}
	for p, page := range b.pages {
		if slices.ContainsFunc(page, func(c byte) bool { return c != 0 }) {
			img.pages = append(img.pages, p)
		}
	}
	slices.Sort(img.pages)
	if len(img.pages) > 0 {
		img.size = (uint64(img.pages[len(img.pages)-1]) + 1) * PageSize
	}
	contents := func(yield func(uint32, []byte) bool) {
		for _, p := range img.pages {
			if !yield(p, b.pages[p]) {
				return
			}
		}
	}
	if img.size > 0 {
		img.file, _ = newImageFile(img.size, contents) // nil: copy it instead
	}
	if img.file == nil {
		img.data = make([]byte, 0, len(img.pages)*PageSize)
		for _, page := range contents {
			img.data = append(img.data, page...)
		}
	}
	return img
}

type budgetKey struct{}

// NewContext returns ctx with b as its memory allocator (as
// experimental.WithMemoryAllocator does) and with b itself, for FromContext: code
// that instantiates a module prepared by Prepare finds the budget there and
// allocates the module's memory with Budget.WithImage.
func NewContext(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(experimental.WithMemoryAllocator(ctx, b), budgetKey{}, b)
}

// FromContext returns the budget NewContext put in ctx, or nil.
func FromContext(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}
