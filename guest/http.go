package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Request is an outgoing HTTP request made through the wassette host.
type Request struct {
	// Method is the HTTP method; empty means GET.
	Method string `json:"method,omitempty"`
	// URL is the absolute http or https URL to fetch. Its host must have been
	// granted to the component, for example with
	// "wassette permission grant network <component-id> api.example.com".
	URL string `json:"url"`
	// Header holds the request headers.
	Header map[string][]string `json:"header,omitempty"`
	// Body is the request body, if any.
	Body []byte `json:"body,omitempty"`
}

// Response is the answer to a Request. The whole body is read by the host,
// which refuses bodies larger than its configured cap (4 MiB by default).
type Response struct {
	// StatusCode is the HTTP status code, e.g. 200.
	StatusCode int `json:"status"`
	// Header holds the response headers, keyed by canonical header name
	// (e.g. "Content-Type").
	Header map[string][]string `json:"header,omitempty"`
	// Body is the complete response body.
	Body []byte `json:"body,omitempty"`
}

// HeaderValue returns the first value of the named response header, matching
// the name case-insensitively, or "" if there is none.
func (r *Response) HeaderValue(name string) string {
	for k, v := range r.Header {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// Status codes of the wassette_http.request host function.
const (
	statusOK      = 0 // the pending result is a JSON Response
	statusError   = 1 // the pending result is an error message
	statusInvalid = 2 // bad pointers or no call state; nothing is pending
)

// Do sends req through the wassette host and returns the response. Any HTTP
// status is a successful response; an error means the request was not made
// (host not granted, invalid URL) or failed (connection error, body too
// large).
func Do(req *Request) (*Response, error) {
	if req == nil {
		return nil, errors.New("wassette http: nil request")
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("wassette http: encode request: %w", err)
	}
	status, out := hostRequest(in)
	switch status {
	case statusOK:
		var resp Response
		if err := json.Unmarshal(out, &resp); err != nil {
			return nil, fmt.Errorf("wassette http: decode response: %w", err)
		}
		return &resp, nil
	case statusError:
		return nil, errors.New(string(out))
	default:
		if len(out) > 0 {
			return nil, errors.New(string(out))
		}
		return nil, fmt.Errorf("wassette http: host refused the call (status %d)", status)
	}
}

// HTTPGet fetches url with a GET request; see Do.
func HTTPGet(url string) (*Response, error) {
	return Do(&Request{Method: "GET", URL: url})
}
