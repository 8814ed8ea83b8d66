package httpapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Role is what a bearer token may do.
type Role int

const (
	// RoleNone: no token, or one the node does not know.
	RoleNone Role = iota
	// RoleRead may use the GET routes (tasks, jobs), not the member list.
	RoleRead
	// RoleWrite may also submit, cancel, restart and call grains, and read
	// the member list (addresses of the cluster) and the profiles.
	RoleWrite
)

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	}
	return "none"
}

// MinTokenLength is the shortest token a node accepts: a shorter one could
// be guessed. 16 random base64 characters are 96 bits.
const MinTokenLength = 16

// ErrBadTokens wraps every error of a token list that cannot be used.
var ErrBadTokens = errors.New("bad token list")

// Tokens are the API's bearer tokens and their roles. Only digests are
// kept, so comparing one costs the same whatever its length.
type Tokens struct {
	entries  []tokenEntry
	internal string
}

type tokenEntry struct {
	digest [sha256.Size]byte
	role   Role
}

// NewTokens returns the token list of the given read and write tokens.
func NewTokens(read, write []string) (*Tokens, error) {
	t := &Tokens{}
	for _, g := range []struct {
		role   Role
		tokens []string
	}{{RoleWrite, write}, {RoleRead, read}} {
		for _, tok := range g.tokens {
			if err := t.add(g.role, tok); err != nil {
				return nil, err
			}
		}
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrBadTokens)
	}
	return t, nil
}

func (t *Tokens) add(role Role, tok string) error {
	if len(tok) < MinTokenLength {
		return fmt.Errorf("%w: a %s token is %d characters, the minimum is %d", ErrBadTokens, role, len(tok), MinTokenLength)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return fmt.Errorf("%w: a %s token contains white space", ErrBadTokens, role)
	}
	if role == RoleWrite && t.internal == "" {
		t.internal = tok
	}
	t.entries = append(t.entries, tokenEntry{digest: sha256.Sum256([]byte(tok)), role: role})
	return nil
}

// ParseTokens reads a token list: one "ROLE TOKEN" a line, ROLE read or
// write; blank lines and lines starting with # are skipped.
func ParseTokens(r io.Reader) (*Tokens, error) {
	var read, write []string
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		fields := strings.Fields(s)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%w: line %d: want ROLE TOKEN", ErrBadTokens, line)
		}
		switch fields[0] {
		case "read":
			read = append(read, fields[1])
		case "write":
			write = append(write, fields[1])
		default:
			return nil, fmt.Errorf("%w: line %d: role %q: want read or write", ErrBadTokens, line, fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTokens, err)
	}
	return NewTokens(read, write)
}

// LoadTokens reads the token list in the file at path (ParseTokens).
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTokens, err)
	}
	defer f.Close()
	t, err := ParseTokens(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Role is the role of token: RoleNone if it is not in the list. Every
// entry is compared, in constant time, so the answer's timing tells
// nothing about which tokens exist.
func (t *Tokens) Role(token string) Role {
	if t == nil || token == "" {
		return RoleNone
	}
	d := sha256.Sum256([]byte(token))
	role := RoleNone
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 && e.role > role {
			role = e.role
		}
	}
	return role
}

// Internal is the token a node sends to the other members' APIs (to
// forward a cancel or a restart, to count their activations): the first
// write token of the list, "" if it has none.
func (t *Tokens) Internal() string {
	if t == nil {
		return ""
	}
	return t.internal
}

// RoleFor is the role a request needs: none for /healthz (Consul's check
// polls it; it tells an anonymous caller only whether the node is
// healthy), write for the member list (the cluster's addresses), the
// profiles and the admin routes (a backup holds every payload), read for
// other GETs, write for everything else.
func RoleFor(method, path string) Role {
	switch {
	case path == "/healthz":
		return RoleNone
	case path == "/v1/members", strings.HasPrefix(path, "/debug/pprof"), strings.HasPrefix(path, "/v1/admin/"):
		return RoleWrite
	case method == http.MethodGet || method == http.MethodHead:
		return RoleRead
	}
	return RoleWrite
}

// RequireTokens serves next only to requests whose bearer token
// (Authorization: Bearer TOKEN) has the role the route needs (RoleFor):
// 401 without a known token, 403 with a read token on a write route. A nil
// tokens serves every request (a loopback development node).
func RequireTokens(tokens *Tokens, next http.Handler) http.Handler {
	if tokens == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := RoleFor(r.Method, r.URL.Path)
		have := tokens.Role(bearer(r))
		switch {
		case have == RoleNone && need == RoleNone:
			anon := r.WithContext(context.WithValue(r.Context(), anonymousKey{}, true))
			next.ServeHTTP(w, anon)
			r.Pattern = anon.Pattern // the route that served it, for metrics
		case have == RoleNone:
			w.Header().Set("WWW-Authenticate", `Bearer realm="granary"`)
			deny(w, http.StatusUnauthorized, CodeUnauthenticated, "a bearer token is required (Authorization: Bearer TOKEN)")
		case have < need:
			deny(w, http.StatusForbidden, CodePermissionDenied, fmt.Sprintf("%s %s needs a %s token", r.Method, r.URL.Path, need))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// The error codes of refused credentials.
const (
	CodeUnauthenticated  = "unauthenticated"
	CodePermissionDenied = "permission_denied"
)

// anonymousKey marks a request without a token on a route open to all.
type anonymousKey struct{}

// anonymous reports a request that RequireTokens let through without a
// token: it is told nothing beyond what the route exists for.
func anonymous(ctx context.Context) bool {
	v, _ := ctx.Value(anonymousKey{}).(bool)
	return v
}

func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func deny(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
