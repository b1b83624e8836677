package runtime

import "github.com/wassette/wassette/internal/netpolicy"

// CheckHostPattern reports whether pattern is a valid network grant, as used
// in CallOptions.AllowedHosts:
//
//   - "api.example.com" allows that host on any port;
//   - "api.example.com:8443" allows that host on that port only;
//   - "*.example.com" allows every subdomain of example.com (such as
//     api.example.com or a.b.example.com) but not example.com itself, and
//     "*.example.com:443" restricts them to a port;
//   - IP addresses are written as such: "127.0.0.1:8080", "[::1]:8080", "::1".
//
// Matching is case-insensitive and ignores a trailing dot. Schemes, paths and
// wildcards other than a leading "*." label are refused. A host granted by name
// may not resolve to a loopback, private, link-local or otherwise special
// address; see internal/netpolicy.
func CheckHostPattern(pattern string) error { return netpolicy.CheckPattern(pattern) }
