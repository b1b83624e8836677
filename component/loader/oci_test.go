package loader

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
)

// testRegistry starts an in-process OCI registry on loopback and returns its
// host:port. If wrap is not nil it wraps the registry's handler.
func testRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcr.New(ggcr.Logger(discardLogger()))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// push publishes an artifact with one layer per media type, each holding data, as
// repo:tag, the way Wassette publishes components, and returns the manifest digest.
func push(t *testing.T, host, repo, tag string, data []byte, layerTypes ...string) string {
	t.Helper()
	ctx := context.Background()
	r, err := remote.NewRepository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	var layers []ocispec.Descriptor
	for _, mt := range layerTypes {
		desc, err := oras.PushBytes(ctx, r, mt, data)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, desc)
	}
	manifest, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, "application/vnd.wasm.config.v0+json",
		oras.PackManifestOptions{
			Layers:              layers,
			ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"},
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, manifest, tag); err != nil {
		t.Fatal(err)
	}
	return manifest.Digest.String()
}

func TestFetchOCI(t *testing.T) {
	host := testRegistry(t, nil)
	ctx := context.Background()
	opts := Options{OCIPlainHTTP: true}
	digest := push(t, host, "microsoft/time-server-js", "v1", wasm, "application/wasm")

	for _, ref := range []string{
		"oci://" + host + "/microsoft/time-server-js:v1",
		"oci://" + host + "/microsoft/time-server-js@" + digest,
		"OCI://" + host + "/microsoft/time-server-js:v1#sha256=" + hexSum(wasm),
	} {
		f, err := Fetch(ctx, ref, opts)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if string(f.Data) != string(wasm) || f.ID != "time-server-js" || f.Digest != "sha256:"+hexSum(wasm) {
			t.Errorf("%s: got %+v", ref, f)
		}
		if want := strings.SplitN(strings.ToLower(ref[:6])+ref[6:], "#", 2)[0]; f.Source != want {
			t.Errorf("%s: source %s, want %s", ref, f.Source, want)
		}
	}

	// Without a tag the reference means :latest.
	push(t, host, "tools/latest-one", "latest", wasm, "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm")
	f, err := Fetch(ctx, "oci://"+host+"/tools/latest-one", opts)
	if err != nil {
		t.Fatal(err)
	}
	if f.Source != "oci://"+host+"/tools/latest-one:latest" || f.ID != "latest-one" {
		t.Errorf("got %+v", f)
	}

	_, err = Fetch(ctx, "oci://"+host+"/microsoft/time-server-js:v1#sha256="+hexSum([]byte("x")), opts)
	wantErr(t, err, ErrDigestMismatch, "pinned")

	small := opts
	small.MaxBytes = int64(len(wasm)) - 1
	_, err = Fetch(ctx, "oci://"+host+"/microsoft/time-server-js:v1", small)
	wantErr(t, err, ErrTooLarge, "over the 7-byte cap")

	_, err = Fetch(ctx, "oci://"+host+"/microsoft/time-server-js:nope", opts)
	wantErr(t, err, nil, "check the repository and tag")
}

func TestFetchOCIMediaTypes(t *testing.T) {
	host := testRegistry(t, nil)
	ctx := context.Background()
	opts := Options{OCIPlainHTTP: true}

	push(t, host, "img/not-wasm", "v1", wasm, "application/vnd.oci.image.layer.v1.tar+gzip")
	_, err := Fetch(ctx, "oci://"+host+"/img/not-wasm:v1", opts)
	wantErr(t, err, ErrUnsupported, "layers of type application/vnd.oci.image.layer.v1.tar+gzip, but no WebAssembly layer")

	push(t, host, "img/two", "v1", wasm, "application/wasm", "application/wasm")
	_, err = Fetch(ctx, "oci://"+host+"/img/two:v1", opts)
	wantErr(t, err, ErrUnsupported, "2 layers of type application/wasm")

	// application/wasm is preferred when other WebAssembly layer types are present too.
	push(t, host, "img/mixed", "v1", wasm, "application/vnd.wasm.content.layer.v1+wasm", "application/wasm")
	if _, err := Fetch(ctx, "oci://"+host+"/img/mixed:v1", opts); err != nil {
		t.Errorf("mixed layers: %v", err)
	}
	push(t, host, "img/content-layer", "v1", wasm, "application/vnd.wasm.content.layer.v1+wasm")
	if _, err := Fetch(ctx, "oci://"+host+"/img/content-layer:v1", opts); err != nil {
		t.Errorf("content layer type: %v", err)
	}
}

func TestFetchOCIBasicAuth(t *testing.T) {
	var guard atomic.Bool // set once the artifact is pushed
	host := testRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if guard.Load() {

				if u, p, ok := r.BasicAuth(); !ok || u != "me" || p != "pw" {
					w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	push(t, host, "private/tool", "v1", wasm, "application/wasm")
	guard.Store(true)
	ctx := context.Background()
	ref := "oci://" + host + "/private/tool:v1"

	_, err := Fetch(ctx, ref, Options{OCIPlainHTTP: true})
	wantErr(t, err, nil, "give registry credentials")

	f, err := Fetch(ctx, ref, Options{OCIPlainHTTP: true, RegistryAuth: &BasicAuth{Username: "me", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != "tool" {
		t.Errorf("ID = %q", f.ID)
	}
}

func TestFetchOCITamperedLayer(t *testing.T) {
	// A registry that serves other bytes for the layer blob than the manifest lists.
	other := []byte("\x00asm\x01\x00\x00\x01")
	layerPath := "/v2/evil/tool/blobs/sha256:" + hexSum(wasm)
	host := testRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Path == layerPath {
				w.Header().Set("Content-Length", "8")
				w.Write(other)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	push(t, host, "evil/tool", "v1", wasm, "application/wasm")
	_, err := Fetch(context.Background(), "oci://"+host+"/evil/tool:v1", Options{OCIPlainHTTP: true})
	wantErr(t, err, ErrDigestMismatch, "other bytes than the manifest lists")
}
