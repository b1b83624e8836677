package loader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// wasmMediaTypes are the layer media types taken for a WebAssembly module, in the
// order they are preferred when a manifest has more than one.
var wasmMediaTypes = []string{
	"application/wasm", // Wassette's own artifacts, wkg
	"application/vnd.wasm.content.layer.v1+wasm",
	"application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
}

// maxManifestBytes caps the manifest; real ones are a few hundred bytes.
const maxManifestBytes = 4 << 20

const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// ociSource prepares to pull the WebAssembly layer of an OCI artifact. ref is the
// reference without "oci://" and fragment.
func ociSource(raw, pin string, opts *Options) (source, error) {
	ref, err := registry.ParseReference(raw)
	if err != nil {
		return source{}, fmt.Errorf("OCI reference %q: %w; write it as oci://registry/repository:tag or oci://registry/repository@sha256:<hex>", raw, err)
	}
	if ref.Reference == "" {
		ref.Reference = "latest"
	}
	repo := &remote.Repository{
		Reference: ref,
		PlainHTTP: opts.OCIPlainHTTP,
		Client:    ociClient(ref, opts),
	}
	return source{
		canonical: "oci://" + ref.String(),
		baseName:  path.Base(ref.Repository),
		pin:       pin,
		read: func(ctx context.Context, max int64) ([]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			data, err := pull(ctx, repo, ref.Reference, max)
			if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("not done within %s; raise the timeout: %w", opts.Timeout, err)
			}
			return data, err
		},
	}, nil
}

func ociClient(ref registry.Reference, opts *Options) *auth.Client {
	hc := opts.HTTPClient
	if hc == nil {
		hc = retry.DefaultClient
	}
	c := &auth.Client{
		Client: hc,
		Cache:  auth.NewCache(),
		Header: http.Header{"User-Agent": {"wassette"}},
	}
	if a := opts.RegistryAuth; a != nil {
		c.Credential = auth.StaticCredential(ref.Registry, auth.Credential{Username: a.Username, Password: a.Password})
	}
	return c
}

// pull fetches the manifest that reference names in repo and the WebAssembly layer it
// lists, checking the layer's size against max and its bytes against its digest.
func pull(ctx context.Context, repo *remote.Repository, reference string, max int64) ([]byte, error) {
	desc, raw, err := oras.FetchBytes(ctx, repo, reference, oras.FetchBytesOptions{MaxBytes: maxManifestBytes})
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("the registry has no %s in %s; check the repository and tag: %w", reference, repo.Reference.Repository, err)
		}
		var resp *errcode.ErrorResponse
		if errors.Is(err, auth.ErrBasicCredentialNotFound) ||
			errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("the registry refused access to %s; check the reference, or give registry credentials: %w", repo.Reference.Repository, err)
		}
		return nil, fmt.Errorf("fetch manifest: %w", err)
	}
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest, dockerManifest:
	case ocispec.MediaTypeImageIndex, dockerManifestList:
		return nil, fmt.Errorf("%w: %s is an image index (several manifests), not a WebAssembly artifact; reference one manifest by its digest",
			ErrUnsupported, reference)
	default:
		return nil, fmt.Errorf("%w: manifest media type %q; want %s", ErrUnsupported, desc.MediaType, ocispec.MediaTypeImageManifest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", desc.Digest, err)
	}
	layer, err := wasmLayer(m.Layers)
	if err != nil {
		return nil, err
	}
	if layer.Size > max {
		return nil, capError(layer.Size, max)
	}
	if layer.Size <= 0 {
		return nil, fmt.Errorf("the WebAssembly layer %s has size %d; the artifact is broken", layer.Digest, layer.Size)
	}
	rc, err := repo.Fetch(ctx, layer)
	if err != nil {
		return nil, fmt.Errorf("fetch layer %s: %w", layer.Digest, err)
	}
	defer rc.Close()
	data, err := content.ReadAll(rc, layer)
	if err != nil {
		if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
			return nil, fmt.Errorf("%w: layer %s: the registry sent other bytes than the manifest lists (%v)", ErrDigestMismatch, layer.Digest, err)
		}
		return nil, fmt.Errorf("read layer %s: %w", layer.Digest, err)
	}
	return data, nil
}

// wasmLayer picks the one WebAssembly layer of a manifest.
func wasmLayer(layers []ocispec.Descriptor) (ocispec.Descriptor, error) {
	for _, mt := range wasmMediaTypes {
		var found []ocispec.Descriptor
		for _, l := range layers {
			if l.MediaType == mt {
				found = append(found, l)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
			continue
		default:
			return ocispec.Descriptor{}, fmt.Errorf("%w: the manifest has %d layers of type %s; a component artifact has one", ErrUnsupported, len(found), mt)
		}
	}
	types := make([]string, 0, len(layers))
	for _, l := range layers {
		types = append(types, l.MediaType)
	}
	have := "no layers"
	if len(types) > 0 {
		have = "layers of type " + strings.Join(types, ", ")
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: the artifact has %s, but no WebAssembly layer (%s); is it a component?",
		ErrUnsupported, have, strings.Join(wasmMediaTypes, ", "))
}
