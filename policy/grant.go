package policy

import (
	"fmt"
	"slices"
)

// GrantStorage allows the folder uri with the given access, merging with an existing
// grant of the same folder. Granting write implies read.
func (p *Policy) GrantStorage(uri string, access ...Access) error {
	if err := ValidateStorageURI(uri); err != nil {
		return err
	}
	if len(access) == 0 {
		access = []Access{Read}
	}
	for _, a := range access {
		if a != Read && a != Write {
			return fmt.Errorf("access %q is not read or write", a)
		}
	}
	if slices.Contains(access, Write) && !slices.Contains(access, Read) {
		access = append(access, Read)
	}
	allow := &p.Permissions.Storage.Allow
	i := slices.IndexFunc(*allow, func(s StorageAllow) bool { return s.URI == uri })
	if i < 0 {
		*allow = append(*allow, StorageAllow{URI: uri})
		i = len(*allow) - 1
	}
	s := &(*allow)[i]
	for _, want := range []Access{Read, Write} { // keep a stable order
		if slices.Contains(access, want) && !slices.Contains(s.Access, want) {
			s.Access = append(s.Access, want)
		}
	}
	slices.SortFunc(s.Access, func(a, b Access) int { return accessRank(a) - accessRank(b) })
	return nil
}

func accessRank(a Access) int {
	if a == Read {
		return 0
	}
	return 1
}

// RevokeStorage removes the grant of folder uri. It reports false if there was none.
func (p *Policy) RevokeStorage(uri string) bool {
	return remove(&p.Permissions.Storage.Allow, func(s StorageAllow) bool { return s.URI == uri })
}

// GrantNetwork allows host. Granting a host twice is not an error.
func (p *Policy) GrantNetwork(host string) error {
	if err := ValidateHost(host); err != nil {
		return err
	}
	if !slices.ContainsFunc(p.Permissions.Network.Allow, func(n NetworkAllow) bool { return n.Host == host }) {
		p.Permissions.Network.Allow = append(p.Permissions.Network.Allow, NetworkAllow{Host: host})
	}
	return nil
}

// RevokeNetwork removes the grant of host. It reports false if there was none.
func (p *Policy) RevokeNetwork(host string) bool {
	return remove(&p.Permissions.Network.Allow, func(n NetworkAllow) bool { return n.Host == host })
}

// GrantEnvironment lets the component see variable key; with a non-nil value, that
// value is given to it whatever the secrets or host hold. Granting an existing key
// replaces its value (a nil value removes the policy's value). One of wassette's own
// variables (IsReservedEnvKey) is refused with an error wrapping ErrProtected.
func (p *Policy) GrantEnvironment(key string, value *string) error {
	if err := validateEnv(key, value); err != nil {
		return err
	}
	if IsReservedEnvKey(key) {
		return errReservedEnv(key)
	}
	allow := &p.Permissions.Environment.Allow
	if i := slices.IndexFunc(*allow, func(e EnvironmentAllow) bool { return e.Key == key }); i >= 0 {
		(*allow)[i].Value = value
		return nil
	}
	*allow = append(*allow, EnvironmentAllow{Key: key, Value: value})
	return nil
}

// RevokeEnvironment removes the grant of variable key. It reports false if there was
// none.
func (p *Policy) RevokeEnvironment(key string) bool {
	return remove(&p.Permissions.Environment.Allow, func(e EnvironmentAllow) bool { return e.Key == key })
}

func remove[T any](s *[]T, match func(T) bool) bool {
	n := len(*s)
	*s = slices.DeleteFunc(*s, match)
	return len(*s) != n
}
