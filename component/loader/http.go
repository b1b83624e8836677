package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"
)

// httpSource prepares to download an https:// (or allowed http://) URL, given without
// its fragment.
func httpSource(raw, pin string, opts *Options) (source, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return source{}, fmt.Errorf("parse URL: %w", err)
	}
	if u.Host == "" {
		return source{}, errors.New("the URL names no host")
	}
	// User info, the query and the fragment stay in the request but never in the
	// recorded source: a presigned URL's signature or a token would be kept on disk,
	// logged and shown to the model.
	canonical := SafeSource(u.String())

	client := httpClient(opts)
	return source{
		canonical: canonical,
		baseName:  path.Base(u.Path),
		pin:       pin,
		read: func(ctx context.Context, max int64) ([]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			return download(ctx, client, u, max, opts.Timeout)
		},
	}, nil
}

// httpClient returns the client for URL downloads: the caller's, or a default one,
// changed to refuse redirects to plain http:// unless that is allowed.
func httpClient(opts *Options) *http.Client {
	base := opts.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	c := *base
	next := base.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" && !opts.AllowHTTP {
			return fmt.Errorf("%w: refusing the redirect to %s, which is not https://", ErrUnsupported, SafeSource(req.URL.String()))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

func download(ctx context.Context, client *http.Client, u *url.URL, max int64, timeout time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/wasm, application/octet-stream;q=0.9, */*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = SafeSource(ue.URL) // it quotes the URL, query and all
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer within %s; check the URL or raise the timeout: %w", timeout, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		hint := "check the URL"
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			hint = "the server wants credentials; download the file yourself and load it by path"
		case resp.StatusCode >= 500:
			hint = "the server failed; try again later"
		}
		return nil, fmt.Errorf("the server answered %s; %s", resp.Status, hint)
	}
	if resp.ContentLength > max {
		return nil, capError(resp.ContentLength, max)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("download not done within %s; raise the timeout: %w", timeout, err)
		}
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(data)) > max {
		return nil, capError(-1, max)
	}
	if resp.ContentLength >= 0 && int64(len(data)) != resp.ContentLength {
		return nil, fmt.Errorf("the download stopped after %d of %d bytes; try again", len(data), resp.ContentLength)
	}
	return data, nil
}
