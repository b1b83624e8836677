package cm

// Values cross between Go and a component as Go values whose type follows
// the WIT type:
//
//	bool                 bool
//	s8 … u64             int8, uint8, int16, uint16, int32, uint32, int64, uint64
//	f32, f64             float32, float64
//	char                 rune
//	string               string
//	list<u8>             []byte
//	list<T>              []any
//	record, tuple        []any, one element per field or member, in order
//	variant              Variant
//	option<T>            Variant: case 0 is none, case 1 is some
//	result<T, E>         Variant: case 0 is ok, case 1 is err
//	enum                 uint32, the case's index
//	flags                uint32, bit i set for label i
//	own<R>, borrow<R>    for a resource the host implements, the host's own Go
//	                     value; for one the component defines, a Handle
//
// A payload that the type leaves out (a case without type, result<_, E>'s
// ok) is nil.

// Variant is a value of a variant, option or result type.
type Variant struct {
	Case  uint32
	Value any
}

// None is option's none.
func None() Variant { return Variant{Case: 0} }

// Some is option's some(v).
func Some(v any) Variant { return Variant{Case: 1, Value: v} }

// OK is result's ok(v); v is nil for result<_, E>.
func OK(v any) Variant { return Variant{Case: 0, Value: v} }

// Err is result's err(v); v is nil for result<T>.
func Err(v any) Variant { return Variant{Case: 1, Value: v} }

// Handle is a handle to a resource the component defines, as held outside
// the component.
type Handle struct {
	Type *ResourceType
	Rep  uint32
}
