package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// CodeCrossOrigin is the error code of a request refused by GuardBrowsers.
const CodeCrossOrigin = "cross_origin"

// GuardBrowsers refuses the requests a web page on another site can make
// a visitor's browser send to the API, which tokens do not stop when a
// node has none (a loopback `granary dev`):
//
//   - A cross-origin write (CSRF): a page's form or fetch POSTing a task
//     as text/plain needs no preflight, so the browser sends it and the
//     node would run it. Writes whose Sec-Fetch-Site or Origin names
//     another origin are refused (http.CrossOriginProtection); clients that
//     are not browsers send neither header and pass, and so does the
//     console, whose requests are same-origin.
//   - DNS rebinding, when loopbackOnly: a page whose own host name is made
//     to resolve to 127.0.0.1 reads and writes the API as same-origin. A
//     node listening on loopback without tokens answers only requests
//     addressed to an IP address or a localhost name (the Host header);
//     /healthz, which tells nothing, answers any (a load balancer's check).
func GuardBrowsers(next http.Handler, loopbackOnly bool) http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loopbackOnly && r.URL.Path != "/healthz" && !loopbackHost(r.Host) {
			deny(w, http.StatusForbidden, CodeCrossOrigin, fmt.Sprintf("Host %.100q is not an IP address or localhost: this node listens on loopback without tokens "+
				"and answers only requests addressed to it as such (a web page could otherwise reach it through DNS rebinding); "+
				"use http://127.0.0.1:PORT, or give the node tokens (--tokens)", r.Host))
			return
		}
		if err := csrf.Check(r); err != nil {
			deny(w, http.StatusForbidden, CodeCrossOrigin, fmt.Sprintf("%s %s from a web page of another origin is refused (%v): "+
				"use the console this node serves at /ui/, or a client that is not a browser", r.Method, r.URL.Path, err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports a Host header that no DNS name an attacker
// controls can produce: an IP address, localhost or a name under
// .localhost (which browsers resolve to loopback themselves), or none
// (HTTP/1.0).
func loopbackHost(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil {
		return true
	}
	host = strings.ToLower(host)
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
