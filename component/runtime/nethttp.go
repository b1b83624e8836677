package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wassette/wassette/internal/netpolicy"
)

// httpModuleName is the import module name of the host functions that give
// components HTTP access. See "Network ABI" in README.md.
const httpModuleName = "wassette_http"

// Status codes returned by wassette_http.request.
const (
	httpStatusOK      = 0 // the pending result is a JSON response
	httpStatusError   = 1 // the pending result is an error message
	httpStatusInvalid = 2 // bad pointers; nothing is pending
)

const maxRedirects = 10

// wireRequest and wireResponse are the JSON documents exchanged with the
// guest. Bodies are base64 (encoding/json's []byte encoding).
type wireRequest struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Header map[string][]string `json:"header"`
	Body   []byte              `json:"body"`
}

type wireResponse struct {
	Status int                 `json:"status"`
	Header map[string][]string `json:"header,omitempty"`
	Body   []byte              `json:"body,omitempty"`
}

func instantiateHTTPModule(ctx context.Context, wz wazero.Runtime, r *Runtime) (api.Module, error) {
	i32 := api.ValueTypeI32
	return wz.NewHostModuleBuilder(httpModuleName).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(r.hostRequest), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("req_ptr", "req_len", "result_len_ptr").
		Export("request").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostTakeResult), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("buf_ptr", "buf_len").
		Export("take_result").
		Instantiate(ctx)
}

// hostRequest implements wassette_http.request(req_ptr, req_len,
// result_len_ptr) -> status.
func (r *Runtime) hostRequest(ctx context.Context, mod api.Module, stack []uint64) {
	reqPtr, reqLen, lenPtr := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	stack[0] = httpStatusInvalid
	st := stateFrom(ctx)
	mem := mod.Memory()
	if st == nil || mem == nil {
		return
	}
	st.pending = nil
	raw, ok := mem.Read(reqPtr, reqLen)
	if !ok {
		return
	}
	var status uint64 = httpStatusOK
	out, err := r.doHTTP(ctx, st, bytes.Clone(raw))
	if err != nil {
		status, out = httpStatusError, []byte("wassette http: "+err.Error())
	}
	if !mem.WriteUint32Le(lenPtr, uint32(len(out))) {
		return
	}
	st.pending = out
	stack[0] = status
}

// hostTakeResult implements wassette_http.take_result(buf_ptr, buf_len) ->
// bytes copied.
func hostTakeResult(ctx context.Context, mod api.Module, stack []uint64) {
	bufPtr, bufLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	stack[0] = 0
	st := stateFrom(ctx)
	mem := mod.Memory()
	if st == nil || mem == nil || st.pending == nil || uint64(bufLen) < uint64(len(st.pending)) {
		return
	}
	if !mem.Write(bufPtr, st.pending) {
		return
	}
	stack[0] = uint64(len(st.pending))
	st.pending = nil
}

func (r *Runtime) doHTTP(ctx context.Context, st *callState, raw []byte) ([]byte, error) {
	if st.net == nil {
		return nil, errors.New("network access is not available while tools are being described")
	}
	var req wireRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("malformed request: %v", err)
	}
	u, err := url.Parse(req.URL)
	if err != nil || !u.IsAbs() {
		return nil, errors.New("invalid URL: give an absolute http or https URL")
	}
	if err := st.net.Check(u); err != nil {
		return nil, err
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("invalid request: %v", redact(err))
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	redirected := false
	client := &http.Client{
		// The policy checks every request, redirects included, and the address
		// of every connection.
		Transport: st.net,
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			redirected = true
			return nil
		},
	}
	start := time.Now()
	where := u.Scheme + "://" + u.Host + u.Path // never the query: it may hold secrets
	resp, err := client.Do(hreq)
	if err != nil {
		var denied *netpolicy.DeniedError
		switch {
		case errors.As(err, &denied) && redirected:
			return nil, fmt.Errorf("redirect refused: %w", denied)
		case errors.As(err, &denied):
			return nil, denied
		}
		return nil, fmt.Errorf("%s %s failed: %v", req.Method, where, redact(err))
	}
	defer resp.Body.Close()
	if resp.ContentLength > int64(st.maxBody) {
		return nil, fmt.Errorf("the response body from %s (%s) is larger than the %s limit", u.Host, formatBytes(uint64(resp.ContentLength)), formatBytes(uint64(st.maxBody)))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(st.maxBody)+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response from %s failed: %v", where, redact(err))
	}
	if len(body) > st.maxBody {
		return nil, fmt.Errorf("the response body from %s is larger than the %s limit", u.Host, formatBytes(uint64(st.maxBody)))
	}
	r.log.Debug("component http request", "component", st.id, "method", req.Method, "host", u.Host,
		"status", resp.StatusCode, "bytes", len(body), "duration", time.Since(start))
	return json.Marshal(wireResponse{Status: resp.StatusCode, Header: resp.Header, Body: body})
}

// redact drops the URL (whose query may hold secrets) from a *url.Error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
