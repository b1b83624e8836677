package cm

import (
	"fmt"
	"strings"
)

// Kind is the kind of a WIT value type.
type Kind uint8

// The kinds of WIT value types.
const (
	KindBool Kind = iota + 1
	KindS8
	KindU8
	KindS16
	KindU16
	KindS32
	KindU32
	KindS64
	KindU64
	KindF32
	KindF64
	KindChar
	KindString
	KindList
	KindRecord
	KindTuple
	KindVariant
	KindEnum
	KindOption
	KindResult
	KindFlags
	KindOwn
	KindBorrow
)

var kindNames = [...]string{
	KindBool: "bool", KindS8: "s8", KindU8: "u8", KindS16: "s16", KindU16: "u16", KindS32: "s32", KindU32: "u32",
	KindS64: "s64", KindU64: "u64", KindF32: "f32", KindF64: "f64", KindChar: "char", KindString: "string",
	KindList: "list", KindRecord: "record", KindTuple: "tuple", KindVariant: "variant", KindEnum: "enum",
	KindOption: "option", KindResult: "result", KindFlags: "flags", KindOwn: "own", KindBorrow: "borrow",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Type is a resolved WIT value type. Types are immutable once a Component is
// decoded; compare them structurally, not by pointer (except Resource).
type Type struct {
	Kind Kind
	// Elem is the element of a list and the payload of an option.
	Elem *Type
	// Fields are the fields of a record.
	Fields []Field
	// Types are the members of a tuple.
	Types []*Type
	// Cases are the cases of a variant.
	Cases []Case
	// Names are the labels of an enum or flags.
	Names []string
	// Ok and Err are the payloads of a result; nil for none.
	Ok, Err *Type
	// Resource is the resource of an own or borrow handle.
	Resource *ResourceType

	// layout, computed once by finish.
	size, align uint32
	flat        []coreType
}

// Field is a record field.
type Field struct {
	Name string
	Type *Type
}

// Case is a variant case; Type is nil for a case without payload.
type Case struct {
	Name string
	Type *Type
}

// ResourceType is a resource type. Two handles have the same resource type
// only if they point to the same ResourceType.
type ResourceType struct {
	// Name is the resource's name in the interface that exports it, e.g.
	// "output-stream"; empty if unknown.
	Name string
	// Interface is the import name that brought in a host resource, e.g.
	// "wasi:io/streams@0.2.3"; empty for a resource the component defines.
	Interface string

	// For a resource the component defines: its destructor, if any.
	dtor *coreItem
	// local reports a resource defined by the component (a guest resource).
	local bool
}

func (r *ResourceType) String() string {
	if r.Interface != "" {
		return r.Interface + "#" + r.Name
	}
	if r.Name != "" {
		return r.Name
	}
	return "resource"
}

// FuncType is a component function type.
type FuncType struct {
	Params []Param
	// Result is the result type; nil for a function without result.
	Result *Type

	// flattened signature, computed by finish (for lift; lower adds the
	// return pointer when needed).
	flatParams, flatResults []coreType
}

// Param is a named function parameter.
type Param struct {
	Name string
	Type *Type
}

// ExternKind is the kind of an import or export.
type externKind uint8

// The kinds of imports and exports.
const (
	externFunc externKind = iota + 1
	externInstance
	externTypeKind
	externComponent
	externModule
	externValue
)

func (k externKind) String() string {
	switch k {
	case externFunc:
		return "func"
	case externInstance:
		return "instance"
	case externTypeKind:
		return "type"
	case externComponent:
		return "component"
	case externModule:
		return "core module"
	case externValue:
		return "value"
	}
	return "extern"
}

// ExternDecl is a named import or export of an instance or component type.
type externDecl struct {
	Name string
	Kind externKind
	// Func is set for functions, Instance for instances, Type for value
	// types and Resource for resource types.
	Func     *FuncType
	Instance *instanceType
	Type     *Type
	Resource *ResourceType
}

// InstanceType is the type of an instance: its named exports.
type instanceType struct {
	Exports []externDecl
}

// Export returns the export named name.
func (t *instanceType) Export(name string) (externDecl, bool) {
	for _, e := range t.Exports {
		if e.Name == name {
			return e, true
		}
	}
	return externDecl{}, false
}

// componentType is the type of a component (only kept to validate imports of
// nested components loosely).
type componentType struct {
	Imports []externDecl
	Exports []externDecl
}

// String writes t in WIT syntax, e.g. "list<tuple<string, u32>>".
func (t *Type) String() string {
	var b strings.Builder
	t.write(&b)
	return b.String()
}

func (t *Type) write(b *strings.Builder) {
	switch t.Kind {
	case KindList:
		b.WriteString("list<")
		t.Elem.write(b)
		b.WriteString(">")
	case KindOption:
		b.WriteString("option<")
		t.Elem.write(b)
		b.WriteString(">")
	case KindTuple:
		b.WriteString("tuple<")
		for i, m := range t.Types {
			if i > 0 {
				b.WriteString(", ")
			}
			m.write(b)
		}
		b.WriteString(">")
	case KindResult:
		if t.Ok == nil && t.Err == nil {
			b.WriteString("result")
			return
		}
		b.WriteString("result<")
		if t.Ok == nil {
			b.WriteString("_")
		} else {
			t.Ok.write(b)
		}
		if t.Err != nil {
			b.WriteString(", ")
			t.Err.write(b)
		}
		b.WriteString(">")
	case KindRecord:
		b.WriteString("record { ")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name + ": ")
			f.Type.write(b)
		}
		b.WriteString(" }")
	case KindVariant:
		b.WriteString("variant { ")
		for i, c := range t.Cases {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.Name)
			if c.Type != nil {
				b.WriteString("(")
				c.Type.write(b)
				b.WriteString(")")
			}
		}
		b.WriteString(" }")
	case KindEnum, KindFlags:
		b.WriteString(t.Kind.String() + " { " + strings.Join(t.Names, ", ") + " }")
	case KindOwn:
		b.WriteString(t.Resource.String())
	case KindBorrow:
		b.WriteString("borrow<" + t.Resource.String() + ">")
	default:
		b.WriteString(t.Kind.String())
	}
}

// String writes f in WIT syntax, e.g. "func(a: u32) -> string".
func (f *FuncType) String() string {
	var b strings.Builder
	b.WriteString("func(")
	for i, p := range f.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name + ": ")
		p.Type.write(&b)
	}
	b.WriteString(")")
	if f.Result != nil {
		b.WriteString(" -> ")
		f.Result.write(&b)
	}
	return b.String()
}

// HasResources reports whether a value of t holds a resource handle.
func (t *Type) HasResources() bool {
	if t == nil {
		return false
	}
	switch t.Kind {
	case KindOwn, KindBorrow:
		return true
	case KindList, KindOption:
		return t.Elem.HasResources()
	case KindRecord:
		for _, f := range t.Fields {
			if f.Type.HasResources() {
				return true
			}
		}
	case KindTuple:
		for _, m := range t.Types {
			if m.HasResources() {
				return true
			}
		}
	case KindVariant:
		for _, c := range t.Cases {
			if c.Type.HasResources() {
				return true
			}
		}
	case KindResult:
		return t.Ok.HasResources() || t.Err.HasResources()
	}
	return false
}

// HasResources reports whether a parameter or the result holds a resource.
func (f *FuncType) HasResources() bool {
	for _, p := range f.Params {
		if p.Type.HasResources() {
			return true
		}
	}
	return f.Result.HasResources()
}
