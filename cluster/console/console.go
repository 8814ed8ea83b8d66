package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/granary-rt/granary/cluster/errs"
)

//go:embed assets
var assets embed.FS

// Config configures the console's handler.
type Config struct {
	// Path is where the console is served; it must start and end with /.
	Path string
	// RedirectRoot sends GET / to Path, so a node's bare address opens
	// the console.
	RedirectRoot bool
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		// /ui/: outside /v1/ (the API) and /healthz, so no route of the
		// API is shadowed.
		Path: "/ui/",
		// On: GET / answered 404 before, so nothing depended on it, and a
		// person who opens a node's address wants to see something.
		RedirectRoot: true,
	}
}

// ErrInvalidConfig is wrapped by the errors of Config.Validate.
var ErrInvalidConfig = errs.New("console: invalid configuration", errs.ErrInvalidConfig)

// Validate reports a Path that cannot be mounted: it must start and end
// with / (the zero Path takes DefaultConfig's in Handler and Mount).
func (c Config) Validate() error {
	if c.Path != "" && (!strings.HasPrefix(c.Path, "/") || !strings.HasSuffix(c.Path, "/") || strings.ContainsAny(c.Path, " {}")) {
		return fmt.Errorf("%w: Path %q must start and end with / (and hold no space or braces)", ErrInvalidConfig, c.Path)
	}
	return nil
}

// withDefaults gives a zero Path DefaultConfig's.
func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultConfig().Path
	}
	return c
}

// ContentSecurityPolicy is the policy of every console response: the
// pages load scripts, styles, images and data from the node only, run no
// inline script or style, embed nothing and are embedded nowhere.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the console's assets under cfg.Path (with cfg.Path
// stripped: mount it at cfg.Path).
func Handler(cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	etags := map[string]string{}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags["/"+p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	etags["/"] = etags["/index.html"]
	files := http.FileServerFS(sub)
	return http.StripPrefix(strings.TrimSuffix(cfg.Path, "/"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console is read with GET", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == "/index.html" {
			// FileServer would redirect it to ./; the page's own links use ./.
			r.URL.Path = "/"
		}
		if tag, ok := etags[r.URL.Path]; ok {
			// The assets change only with the binary: the browser may keep
			// them but asks each time (a 304 costs a round trip and no bytes).
			w.Header().Set("ETag", tag)
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	}))
}

// secure sets the security headers of every console response.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Mount serves the console at cfg.Path in front of api: requests under
// cfg.Path get the console (without the API's token check: the assets hold
// no data, and every data call the console makes goes through api), GET /
// is redirected to cfg.Path if cfg.RedirectRoot, and everything else goes
// to api.
func Mount(api http.Handler, cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	mux := http.NewServeMux()
	mux.Handle(cfg.Path, Handler(cfg))
	if cfg.RedirectRoot {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			secure(w.Header())
			http.Redirect(w, r, cfg.Path, http.StatusFound)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Not a route of the console's: the API's own mux names the route
		// (metrics label requests by it), and a request refused before it
		// (a missing token) has none.
		r.Pattern = ""
		api.ServeHTTP(w, r)
	})
	return mux
}
