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
// Unknown fields and bad values are errors that name the file and what is wrong.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

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
}

// New returns an empty policy of the current version.
func New() *Policy { return &Policy{Version: Version} }

// Parse reads a policy from data. name, usually the file's path, prefixes errors.
func Parse(name string, data []byte) (*Policy, error) {
	p := New()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		if errors.Is(err, io.EOF) {
			return New(), nil // empty file
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if p.Version == "" {
		p.Version = Version
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
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

// Validate checks every field and reports the first problem.
func (p *Policy) Validate() error {
	if p.Version != Version {
		return fmt.Errorf("version %q is not supported; use %q", p.Version, Version)
	}
	for i, s := range p.Permissions.Storage.Allow {
		if err := ValidateStorageURI(s.URI); err != nil {
			return fmt.Errorf("permissions.storage.allow[%d]: %w", i, err)
		}
		if len(s.Access) == 0 {
			return fmt.Errorf("permissions.storage.allow[%d] (%s): access is empty; use [read] or [read, write]", i, s.URI)
		}
		for _, a := range s.Access {
			if a != Read && a != Write {
				return fmt.Errorf("permissions.storage.allow[%d] (%s): access %q is not read or write", i, s.URI, a)
			}
		}
	}
	for i, n := range p.Permissions.Network.Allow {
		if err := ValidateHost(n.Host); err != nil {
			return fmt.Errorf("permissions.network.allow[%d]: %w", i, err)
		}
	}
	seen := map[string]bool{}
	for i, e := range p.Permissions.Environment.Allow {
		if err := validateEnv(e.Key, e.Value); err != nil {
			return fmt.Errorf("permissions.environment.allow[%d]: %w", i, err)
		}
		if seen[e.Key] {
			return fmt.Errorf("permissions.environment.allow[%d]: key %q is listed twice", i, e.Key)
		}
		seen[e.Key] = true
	}
	if _, err := p.MemoryLimit(); err != nil {
		return err
	}
	if _, err := p.Timeout(); err != nil {
		return err
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
	path, ok := strings.CutPrefix(uri, "fs://")
	if !ok || !strings.HasPrefix(path, "/") {
		return fmt.Errorf("storage URI %q must be fs:// followed by an absolute path, like fs:///home/me/data", uri)
	}
	if strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("storage URI %q contains a NUL byte", uri)
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
	if !hostRe.MatchString(host) {
		return fmt.Errorf("host %q is not a host name with an optional :port (like api.example.com, *.example.com or 127.0.0.1:8080)", host)
	}
	if _, port, ok := strings.Cut(host, ":"); ok {
		if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
			return fmt.Errorf("host %q: port must be 1 to 65535", host)
		}
	}
	return nil
}

// MemoryLimit returns the memory limit in bytes, or 0 if the policy sets none.
func (p *Policy) MemoryLimit() (uint64, error) {
	s := p.Permissions.Resources.Limits.Memory
	if s == "" {
		return 0, nil
	}
	n, err := ParseMemory(s)
	if err != nil {
		return 0, fmt.Errorf("permissions.resources.limits.memory: %w", err)
	}
	return n, nil
}

// ParseMemory reads a memory size: a byte count with an optional suffix Ki, Mi, Gi
// (powers of 1024) or k, M, G (powers of 1000), more than 0 and at most 4Gi.
func ParseMemory(s string) (uint64, error) {
	m := memRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("memory size %q: use a byte count with an optional suffix, like 64Mi", s)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	mult := map[string]uint64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m[2]]
	if err != nil || n == 0 || n > (1<<32)/mult {
		return 0, fmt.Errorf("memory size %q: must be more than 0 and at most 4Gi", s)
	}
	return n * mult, nil
}

// Timeout returns the call timeout, or 0 if the policy sets none.
func (p *Policy) Timeout() (time.Duration, error) {
	s := p.Permissions.Resources.Limits.Timeout
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("permissions.resources.limits.timeout %q: use a positive duration like 30s", s)
	}
	return d, nil
}
