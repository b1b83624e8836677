package wasi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wassette/wassette/component/cm"
	"github.com/wassette/wassette/internal/netpolicy"
)

func TestFieldsRules(t *testing.T) {
	f := newFields()
	for _, tt := range []struct {
		name, value string
		want        uint32
		ok          bool
	}{
		{"Accept", "application/json", 0, true},
		{"x-api-key", "k", 0, true},
		{"Host", "evil.example", headerForbidden, false},
		{"transfer-encoding", "chunked", headerForbidden, false},
		{"bad name", "v", headerInvalidSyntax, false},
		{"", "v", headerInvalidSyntax, false},
		{"x-split", "a\r\nInjected: yes", headerInvalidSyntax, false},
		{"x-nul", "a\x00b", headerInvalidSyntax, false},
	} {
		c, ok := f.add(tt.name, []byte(tt.value))
		if ok != tt.ok || (!ok && c != tt.want) {
			t.Errorf("add(%q): case %d, %v; want %d, %v", tt.name, c, ok, tt.want, tt.ok)
		}
	}
	f.add("X-Api-Key", []byte("k2"))
	if got := f.get("X-API-KEY"); len(got) != 2 || string(got[1].([]byte)) != "k2" {
		t.Errorf("get is not case-insensitive or loses order: %v", got)
	}
	if h := f.header(); h.Get("X-Api-Key") != "k" || len(h["X-Api-Key"]) != 2 || h.Get("Accept") != "application/json" {
		t.Errorf("header: %v", h)
	}
	// The headers of a request are an immutable view of its fields.
	r := &outgoingRequest{headers: &fields{list: f.list, immutable: true}}
	child := &fields{list: r.headers.list, immutable: true}
	res := child.mutate(func() (uint32, bool) { return child.add("x", []byte("y")) }).(cm.Variant)
	if res.Case != 1 || res.Value.(cm.Variant).Case != headerImmutable {
		t.Errorf("a child accepted a change: %+v", res)
	}
	c := child.clone()
	if c.immutable || len(c.list.entries) != len(f.list.entries) {
		t.Errorf("clone: %+v", c)
	}
	c.delete("x-api-key")
	if !f.has("x-api-key") || c.has("x-api-key") {
		t.Error("a clone shares its entries with the original")
	}
	ro := fieldsOf(http.Header{"B": {"2"}, "A": {"1"}})
	if !ro.immutable || ro.list.entries[0].name != "a" {
		t.Errorf("fieldsOf: %+v", ro.list.entries)
	}
}

func TestRequestParts(t *testing.T) {
	for _, s := range []string{"/", "/weather?q=a&appid=b", "?q=1", "", "*"} {
		if !validPathQuery(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"weather", "/a b", "/a#frag", "/a\nb"} {
		if validPathQuery(s) {
			t.Errorf("%q accepted", s)
		}
	}
	for _, s := range []string{"api.example.com", "127.0.0.1:8080", "[::1]:80"} {
		if !validAuthority(s) {
			t.Errorf("authority %q refused", s)
		}
	}
	for _, s := range []string{"", "user@host", "a/b", "a b"} {
		if validAuthority(s) {
			t.Errorf("authority %q accepted", s)
		}
	}
	if m, ok := methodOf(cm.Variant{Case: 9, Value: "PROPFIND"}); !ok || m != "PROPFIND" {
		t.Errorf("other method: %q %v", m, ok)
	}
	if _, ok := methodOf(cm.Variant{Case: 9, Value: "GET /x"}); ok {
		t.Error("a method with a space was accepted")
	}
}

// send refuses, before any connection, what the policy does not allow.
func TestSendRefusals(t *testing.T) {
	pol, err := netpolicy.New("weather", []string{"api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer pol.Close()
	s := newHTTPState(HTTP{Policy: pol, ComponentID: "weather", MaxRequests: 1})
	defer s.close()
	str := func(v string) *string { return &v }
	req := func(auth string) *outgoingRequest {
		return &outgoingRequest{method: "GET", authority: str(auth), pathQuery: str("/x?appid=SECRET"), headers: newFields()}
	}
	_, he := s.send(context.Background(), req("other.example"), nil)
	if he == nil || he.code.Case != ecHTTPRequestDenied ||
		he.msg != "network access to other.example is not granted to this component; to allow it run: wassette permission grant network weather other.example" {
		t.Errorf("a host not granted: %+v", he)
	}
	noAuth := req("x")
	noAuth.authority = nil
	if _, he := s.send(context.Background(), noAuth, nil); he == nil || he.code.Case != ecHTTPRequestURIInvalid {
		t.Errorf("no authority: %+v", he)
	}
	ftp := req("api.example.com")
	ftp.scheme = str("ftp")
	if _, he := s.send(context.Background(), ftp, nil); he == nil || he.code.Case != ecHTTPProtocolError {
		t.Errorf("ftp: %+v", he)
	}
	for _, p := range s.problems {
		if strings.Contains(p, "SECRET") {
			t.Errorf("a problem shows the query: %s", p)
		}
	}
	// No policy at all: refused, naming the grant.
	none := newHTTPState(HTTP{ComponentID: "c"})
	if _, he := none.send(context.Background(), req("api.example.com"), nil); he == nil || he.code.Case != ecHTTPRequestDenied ||
		!strings.Contains(he.msg, "wassette permission grant network c api.example.com") {
		t.Errorf("no policy: %+v", he)
	}
}

func TestBodyPipe(t *testing.T) {
	tooLarge := func(n int64) *httpError { return newHTTPError(ecHTTPRequestBodySize, fmt.Sprint("too large: ", n)) }
	p := newBodyPipe(10)
	if err := p.write([]byte("hello"), tooLarge); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		p.write([]byte(" you"), tooLarge)
		p.finish()
	}()
	b, err := io.ReadAll(p)
	if err != nil || string(b) != "hello you" {
		t.Errorf("read %q, %v", b, err)
	}

	p = newBodyPipe(10)
	if err := p.write([]byte("01234567890"), tooLarge); err == nil || errorCode(err).Case != ecHTTPRequestBodySize {
		t.Errorf("past the limit: %v", err)
	}
	if _, err := io.ReadAll(p); err == nil {
		t.Error("a body past its limit read to its end")
	}

	p = newBodyPipe(10)
	if _, _, ok := p.expect(3); !ok {
		t.Fatal("expect")
	}
	p.write([]byte("ab"), tooLarge)
	if err := p.finish(); err == nil {
		t.Error("a body shorter than its Content-Length finished")
	}

	p = newBodyPipe(10)
	p.write([]byte("ab"), tooLarge)
	p.abort(errBodyNotFinished)
	if _, err := io.ReadAll(p); !errors.Is(err, errBodyNotFinished) {
		t.Errorf("aborted: %v", err)
	}
}

// A component polling a response body wakes when the next bytes arrive.
func TestIncomingStreamPoll(t *testing.T) {
	pr, pw := io.Pipe()
	s := newHTTPState(HTTP{MaxResponseBytes: 8})
	f := &futureResponse{s: s, ctx: context.Background(), done: make(chan struct{}), cancel: func(error) {}, origin: "http://api.example.com:80"}
	close(f.done)
	f.resp = &incomingResponse{f: f, raw: &http.Response{Body: pr}}
	b := newIncomingBody(f.resp)
	f.resp.body = b
	st := b.stream
	if data, err := st.Read(10); err != nil || len(data) != 0 {
		t.Fatalf("read before data: %q, %v", data, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		pw.Write([]byte("abc"))
	}()
	if _, err := poll(context.Background(), []Pollable{st.Subscribe()}); err != nil {
		t.Fatal(err)
	}
	if data, err := st.Read(10); err != nil || string(data) != "abc" {
		t.Errorf("read after poll: %q, %v", data, err)
	}
	go pw.Write([]byte("0123456789")) // past the 8-byte cap
	if err := wait(context.Background(), st.ended()); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := st.Read(100)
		if err != nil {
			if errorCode(err).Case != ecHTTPResponseBodySize || !strings.Contains(err.Error(), "larger than the 8 bytes limit") {
				t.Errorf("past the cap: %v", err)
			}
			break
		}
	}
	st.Close()
	s.close()
}

func TestClassify(t *testing.T) {
	const origin = "https://api.example.com:443"
	for _, tt := range []struct {
		err, cause error
		want       uint32
	}{
		{&netpolicy.DeniedError{Host: "a", Port: "443", Grant: "a"}, nil, ecHTTPRequestDenied},
		{&netpolicy.DeniedError{Host: "a", Port: "443", Kind: "loopback", Grant: "127.0.0.1:443"}, nil, ecDestinationIPProhibited},
		{context.Canceled, errFirstByteTimeout, ecHTTPResponseTimeout},
		{context.Canceled, errBetweenBytesTimeout, ecConnectionReadTimeout},
		{&net.DNSError{Name: "a", IsNotFound: true}, nil, ecDestinationNotFound},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, nil, ecConnectionRefused},
		{io.ErrUnexpectedEOF, nil, ecHTTPResponseIncomplete},
		{errors.New("something else"), nil, ecInternalError},
	} {
		if got := classify(tt.err, tt.cause, origin); got.code.Case != tt.want {
			t.Errorf("classify(%v, %v) = %d (%s), want %d", tt.err, tt.cause, got.code.Case, got.msg, tt.want)
		}
	}
}
