// Package policy reads, checks and writes a component's policy: what storage, network
// hosts and environment variables it may use.
//
// The format is Wassette's policy.yaml:
//
//	version: "1.0"
//	description: "Permission policy for weather"
//	permissions:
//	  storage:
//	    allow:
//	      - uri: "fs:///home/me/data"
//	        access: ["read", "write"]
//	  network:
//	    allow:
//	      - host: "api.weather.com"
//	  environment:
//	    allow:
//	      - key: "API_KEY"
//	        value: "from-policy"   # optional; a value here wins over secrets and host
//	  resources:
//	    limits:
//	      memory: "256Mi"
//	      timeout: "30s"
//
// Unknown fields and bad values are errors that name the file, the line and column, and
// what is wrong, and never quote a value: a policy may hold secrets.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/internal/strictyaml"
	"github.com/wassette/wassette/secretstore"
)

// Version is the policy format version this package writes.
const Version = "1.0"

// Policy is one component's policy.
type Policy struct {
	Version     string      `yaml:"version" json:"version"`
	Description string      `yaml:"description,omitempty" json:"description,omitempty"`
	Permissions Permissions `yaml:"permissions" json:"permissions"`
}

// Permissions lists what a component may use. An empty list grants nothing.
type Permissions struct {
	Storage     StoragePermissions     `yaml:"storage,omitempty" json:"storage"`
	Network     NetworkPermissions     `yaml:"network,omitempty" json:"network"`
	Environment EnvironmentPermissions `yaml:"environment,omitempty" json:"environment"`
	Resources   Resources              `yaml:"resources,omitempty" json:"resources"`
}

// StoragePermissions lists the folders a component may use.
type StoragePermissions struct {
	Allow []StorageAllow `yaml:"allow,omitempty" json:"allow"`
}

// StorageAllow grants access to one folder, named by an fs:// URI.
type StorageAllow struct {
	URI    string   `yaml:"uri" json:"uri"`
	Access []Access `yaml:"access,flow" json:"access"`
}

// Access is a kind of storage access.
type Access string

// The kinds of storage access.
const (
	Read  Access = "read"
	Write Access = "write"
)

// NetworkPermissions lists the hosts a component may reach.
type NetworkPermissions struct {
	Allow []NetworkAllow `yaml:"allow,omitempty" json:"allow"`
}

// NetworkAllow grants one host: "api.example.com", "api.example.com:8443", or
// "*.example.com" for every subdomain.
type NetworkAllow struct {
	Host string `yaml:"host" json:"host"`
}

// EnvironmentPermissions lists the environment variables a component may see.
type EnvironmentPermissions struct {
	Allow []EnvironmentAllow `yaml:"allow,omitempty" json:"allow"`
}

// EnvironmentAllow lets a component see the host's variable Key, or, when Value is set,
// gives it that value whatever the host or the secrets hold. A Value may be a secret:
// show it only masked.
type EnvironmentAllow struct {
	Key   string  `yaml:"key" json:"key"`
	Value *string `yaml:"value,omitempty" json:"-"`
}

// Resources holds limits on a component's calls.
type Resources struct {
	Limits Limits `yaml:"limits,omitempty" json:"limits"`
}

// Limits bound one call of a component. Empty means the runtime's default.
type Limits struct {
	// Memory is the most linear memory a call may use: a byte count with an optional
	// suffix Ki, Mi, Gi (powers of 1024) or k, M, G (powers of 1000), e.g. "256Mi".
	Memory string `yaml:"memory,omitempty" json:"memory,omitempty"`
	// Timeout is the longest a call may run, as a Go duration, e.g. "30s".
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// HTTPResponseBody bounds the body of each HTTP response a call receives,
	// in Memory's format, e.g. "16Mi". Empty means the runtime's default.
	HTTPResponseBody string `yaml:"http_response_body,omitempty" json:"http_response_body,omitempty"`
}

// New returns an empty policy of the current version.
func New() *Policy { return &Policy{Version: Version} }

// Parse reads a policy from data. name, usually the file's path, prefixes errors. Every
// scalar reads as its exact text; anchors, aliases, tags, merge keys, unknown or repeated
// fields and bad values are errors that say where they are (line and column) and never
// quote a value of the file.
func Parse(name string, data []byte) (*Policy, error) {
	p := New()
	root, err := strictyaml.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if root == nil {
		return p, nil // empty file
	}
	d := decoder{at: map[string]*yaml.Node{}}
	if err := d.decode(root, reflect.ValueOf(p).Elem(), ""); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if p.Version == "" {
		p.Version = Version
	}
	if pr := p.check(); pr != nil {
		return nil, fmt.Errorf("%s: %w", name, strictyaml.At(d.node(pr.field), "%s %s", pr.field, pr.msg))
	}
	return p, nil
}

// Marshal encodes the policy as YAML.
func (p *Policy) Marshal() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

var (
	hostRe = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$`)
	memRe  = regexp.MustCompile(`^([0-9]+)(Ki|Mi|Gi|k|M|G)?$`)
)

// Validate checks every field and reports the first problem. The error names the field
// and never quotes its value.
func (p *Policy) Validate() error {
	if pr := p.check(); pr != nil {
		return fmt.Errorf("%s %s", pr.field, pr.msg)
	}
	return nil
}

// problem is what is wrong with one field: msg completes a sentence that starts with
// the field's path, and never holds its value.
type problem struct{ field, msg string }

func bad(field string, err error) *problem { return &problem{field, err.Error()} }

// check returns the first problem of the policy, or nil.
func (p *Policy) check() *problem {
	if p.Version != Version {
		return &problem{"version", fmt.Sprintf("is not supported; this wassette reads version %q", Version)}
	}
	for i, s := range p.Permissions.Storage.Allow {
		f := fmt.Sprintf("permissions.storage.allow[%d]", i)
		if err := checkStorageURI(s.URI); err != nil {
			return bad(f+".uri", err)
		}
		if len(s.Access) == 0 {
			return &problem{f + ".access", "is empty; use [read] or [read, write]"}
		}
		for j, a := range s.Access {
			if a != Read && a != Write {
				return &problem{fmt.Sprintf("%s.access[%d]", f, j), "is not read or write"}
			}
		}
	}
	for i, n := range p.Permissions.Network.Allow {
		if err := checkHost(n.Host); err != nil {
			return bad(fmt.Sprintf("permissions.network.allow[%d].host", i), err)
		}
	}
	first := map[string]int{}
	for i, e := range p.Permissions.Environment.Allow {
		f := fmt.Sprintf("permissions.environment.allow[%d]", i)
		if err := secretstore.ValidateKey(e.Key); err != nil {
			// variables and secrets share one name rule: they merge into one environment
			return &problem{f + ".key", "is not a valid variable name: " +
				strings.TrimPrefix(err.Error(), secretstore.ErrInvalidKey.Error()+": ")}
		}
		if e.Value != nil && (strings.IndexByte(*e.Value, 0) >= 0 || !utf8.ValidString(*e.Value)) {
			return &problem{f + ".value", "must be UTF-8 text without NUL bytes"}
		}
		if j, dup := first[e.Key]; dup {
			return &problem{f + ".key", fmt.Sprintf("names the same variable as permissions.environment.allow[%d]", j)}
		}
		first[e.Key] = i
	}
	if _, err := parseMemory(p.Permissions.Resources.Limits.Memory); err != nil {
		return bad("permissions.resources.limits.memory", err)
	}
	if _, err := parseTimeout(p.Permissions.Resources.Limits.Timeout); err != nil {
		return bad("permissions.resources.limits.timeout", err)
	}
	if n, err := parseMemory(p.Permissions.Resources.Limits.HTTPResponseBody); err != nil || n >= 1<<31 {
		if err == nil {
			err = errors.New("must be less than 2Gi")
		}
		return bad("permissions.resources.limits.http_response_body", err)
	}
	return nil
}

// validateEnv checks an environment grant. The error never contains the value.
func validateEnv(key string, value *string) error {
	if err := secretstore.ValidateKey(key); err != nil {
		return err // variables and secrets share one name rule: they merge into one environment
	}
	if value != nil && (strings.IndexByte(*value, 0) >= 0 || !utf8.ValidString(*value)) {
		return fmt.Errorf("the value of %s must be UTF-8 text without NUL bytes", key)
	}
	return nil
}

// ValidateStorageURI checks an fs:// URI naming an absolute folder.
func ValidateStorageURI(uri string) error {
	if err := checkStorageURI(uri); err != nil {
		return fmt.Errorf("storage URI %q %w", uri, err)
	}
	return nil
}

func checkStorageURI(uri string) error {
	path, ok := strings.CutPrefix(uri, "fs://")
	if !ok || !strings.HasPrefix(path, "/") {
		return errors.New("must be fs:// followed by an absolute path, like fs:///home/me/data")
	}
	if strings.IndexByte(path, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	return nil
}

// StorageURI returns the fs:// URI a policy holds for s: s itself if it is an fs://
// URI, or "fs://" and s if s is an absolute path. The result is checked.
func StorageURI(s string) (string, error) {
	uri := s
	if !strings.Contains(s, "://") && filepath.IsAbs(s) {
		uri = "fs://" + filepath.ToSlash(filepath.Clean(s))
	}
	return uri, ValidateStorageURI(uri)
}

// ValidateHost checks a network grant: a host name or IP address, optionally with a port,
// or "*." and a domain.
func ValidateHost(host string) error {
	if err := checkHost(host); err != nil {
		return fmt.Errorf("host %q %w", host, err)
	}
	return nil
}

func checkHost(host string) error {
	if !hostRe.MatchString(host) {
		return errors.New("is not a host name with an optional :port (like api.example.com, *.example.com or 127.0.0.1:8080)")
	}
	if _, port, ok := strings.Cut(host, ":"); ok {
		if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
			return errors.New("has a port outside 1 to 65535")
		}
	}
	return nil
}

// MemoryLimit returns the memory limit in bytes, or 0 if the policy sets none.
func (p *Policy) MemoryLimit() (uint64, error) {
	n, err := parseMemory(p.Permissions.Resources.Limits.Memory)
	if err != nil {
		return 0, fmt.Errorf("permissions.resources.limits.memory %w", err)
	}
	return n, nil
}

// ParseMemory reads a memory size: a byte count with an optional suffix Ki, Mi, Gi
// (powers of 1024) or k, M, G (powers of 1000), more than 0 and at most 4Gi.
func ParseMemory(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("memory size is empty: use a byte count with an optional suffix, like 64Mi")
	}
	n, err := parseMemory(s)
	if err != nil {
		return 0, fmt.Errorf("memory size %q %w", s, err)
	}
	return n, nil
}

// parseMemory is ParseMemory with "" for no limit (0), and errors that do not quote s.
func parseMemory(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	m := memRe.FindStringSubmatch(s)
	if m == nil {
		return 0, errors.New("is not a byte count with an optional suffix, like 64Mi")
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	mult := map[string]uint64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m[2]]
	if err != nil || n == 0 || n > (1<<32)/mult {
		return 0, errors.New("must be more than 0 and at most 4Gi")
	}
	return n * mult, nil
}

// HTTPResponseLimit returns the cap on each HTTP response body, or 0 if the
// policy sets none.
func (p *Policy) HTTPResponseLimit() (uint64, error) {
	n, err := parseMemory(p.Permissions.Resources.Limits.HTTPResponseBody)
	if err != nil {
		return 0, fmt.Errorf("permissions.resources.limits.http_response_body %w", err)
	}
	return n, nil
}

// Timeout returns the call timeout, or 0 if the policy sets none.
func (p *Policy) Timeout() (time.Duration, error) {
	d, err := parseTimeout(p.Permissions.Resources.Limits.Timeout)
	if err != nil {
		return 0, fmt.Errorf("permissions.resources.limits.timeout %w", err)
	}
	return d, nil
}

func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("is not a positive duration like 30s")
	}
	return d, nil
}
