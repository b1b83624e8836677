package netpolicy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// pattern is a parsed network grant.
type pattern struct {
	host     string     // lower case, no trailing dot; for a wildcard, the suffix without "*."
	wildcard bool       // "*.example.com": subdomains of host only, not host itself
	port     string     // "" means any port
	addr     netip.Addr // valid when the grant is an IP address
}

// CheckPattern reports whether s is a valid network grant:
//
//   - "api.example.com" allows that host on any port;
//   - "api.example.com:8443" allows that host on that port only;
//   - "*.example.com" allows every subdomain of example.com (such as
//     api.example.com or a.b.example.com) but not example.com itself, and
//     "*.example.com:443" restricts them to a port;
//   - IP addresses are written as such: "127.0.0.1:8080", "[::1]:8080", "::1".
//
// Matching is case-insensitive and ignores a trailing dot. Schemes, paths and
// wildcards other than a leading "*." label are refused.
func CheckPattern(s string) error {
	_, err := parsePattern(s)
	return err
}

func parsePattern(s string) (pattern, error) {
	orig := s
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return pattern{}, errors.New("empty host")
	}
	if strings.ContainsAny(s, "/?#@ ") {
		return pattern{}, fmt.Errorf("invalid host %q: give a host name such as api.example.com or api.example.com:443, not a URL", orig)
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		if strings.HasSuffix(s, "]") {
			host = s[1 : len(s)-1]
		} else {
			h, p, err := net.SplitHostPort(s)
			if err != nil {
				return pattern{}, fmt.Errorf("invalid host %q: %v", orig, err)
			}
			host, port = h, p
		}
	case strings.Count(s, ":") == 1:
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return pattern{}, fmt.Errorf("invalid host %q: %v", orig, err)
		}
		host, port = h, p
	}
	if port != "" {
		v, err := strconv.Atoi(port)
		if err != nil || v < 1 || v > 65535 || strings.Trim(port, "0123456789") != "" {
			return pattern{}, fmt.Errorf("invalid host %q: port must be a number from 1 to 65535", orig)
		}
		port = strconv.Itoa(v) // "08080" is 8080
	}
	p := pattern{port: port}
	if strings.HasPrefix(host, "*.") {
		p.wildcard = true
		host = host[2:]
	}
	host = strings.TrimSuffix(host, ".")
	if addr, err := netip.ParseAddr(host); err == nil {
		if p.wildcard {
			return pattern{}, fmt.Errorf("invalid host %q: a wildcard needs a domain name, not an IP address", orig)
		}
		if addr.Zone() != "" {
			return pattern{}, fmt.Errorf("invalid host %q: an IPv6 zone is not allowed", orig)
		}
		p.addr = addr.Unmap()
		p.host = p.addr.String()
		return p, nil
	}
	if strings.Contains(host, "*") {
		return pattern{}, fmt.Errorf("invalid host %q: a wildcard is allowed only as a leading \"*.\" label, as in *.example.com", orig)
	}
	if err := checkDomain(host); err != nil {
		return pattern{}, fmt.Errorf("invalid host %q: %v", orig, err)
	}
	if p.wildcard && !strings.Contains(host, ".") {
		return pattern{}, fmt.Errorf("invalid host %q: a wildcard must name a domain with at least two labels, as in *.example.com", orig)
	}
	p.host = host
	return p, nil
}

func checkDomain(host string) error {
	if host == "" || len(host) > 253 {
		return errors.New("a host name must have 1 to 253 characters")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("each dot-separated label must have 1 to 63 characters")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("character %q is not allowed in a host name", c)
			}
		}
	}
	return nil
}

// hostPort returns the normalized host and the effective port of u.
func hostPort(u *url.URL) (host, port string) {
	host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if addr, err := netip.ParseAddr(host); err == nil {
		host = addr.Unmap().String()
	}
	port = u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		default:
			port = "80"
		}
	} else if v, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(v)
	}
	return host, port
}

func (p pattern) matches(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	if p.wildcard {
		return len(host) > len(p.host)+1 && strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}

// grantFor is the grant to suggest for host and port: the host alone for the
// scheme's default port, host:port otherwise.
func grantFor(scheme, host, port string) string {
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return host
	}
	return net.JoinHostPort(host, port)
}
