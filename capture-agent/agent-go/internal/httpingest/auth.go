package httpingest

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// Auth holds the SHA-256 digests of the configured bearer tokens by role (service/src/auth:
// BearerAuth.ts, AuthConfig.ts); nil when access control is disabled.
type Auth struct{ entries []entry }

type entry struct {
	digest [32]byte
	role   string // ingest, query or admin
}

var tokenRe = regexp.MustCompile(`^[\x21-\x7e]{16,}$`)

// AuthFromEnv: AuthConfig.ts resolveAuth for the ingest scope: PROVML_{INGEST,QUERY,ADMIN}_TOKENS
// (comma-separated) and _TOKEN_FILE (one token per line; blank lines and # comments skipped), or
// none with PROVML_AUTH_DISABLED=true. No token granting ingest is an error (the agent refuses to start).
func AuthFromEnv(env func(string) string) (*Auth, error) {
	if env("PROVML_AUTH_DISABLED") == "true" {
		return nil, nil
	}
	a := &Auth{}
	for _, role := range []string{"ingest", "query", "admin"} {
		upper := strings.ToUpper(role)
		var tokens []string
		for _, t := range strings.Split(env("PROVML_"+upper+"_TOKENS"), ",") {
			if t = strings.TrimSpace(t); t != "" {
				tokens = append(tokens, t)
			}
		}
		if path := env("PROVML_" + upper + "_TOKEN_FILE"); path != "" {
			text, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("cannot read a token file: auth.%sTokenFile: %s: %w", role, path, err)
			}
			bad := 0
			for _, l := range strings.Split(string(text), "\n") {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				if !tokenRe.MatchString(l) {
					bad++
				}
				tokens = append(tokens, l)
			}
			if bad > 0 {
				return nil, fmt.Errorf("invalid token file: auth.%sTokenFile: %s: %d line(s) are not tokens (16+ printable ASCII characters, no spaces)", role, path, bad)
			}
		}
		for _, t := range tokens {
			if !tokenRe.MatchString(t) {
				return nil, fmt.Errorf("PROVML_%s_TOKENS: tokens must be at least 16 printable ASCII characters without spaces", upper)
			}
			a.entries = append(a.entries, entry{sha256.Sum256([]byte(t)), role})
		}
	}
	for _, e := range a.entries {
		if e.role == "ingest" || e.role == "admin" {
			return a, nil
		}
	}
	return nil, errors.New("access control is not configured: no token grants the 'ingest' scope: set PROVML_INGEST_TOKEN_FILE (or PROVML_ADMIN_TOKEN_FILE), or run without access control with PROVML_AUTH_DISABLED=true")
}

var bearerRe = regexp.MustCompile(`(?i)^Bearer[ ]+([\x21-\x7e]+)[ ]*$`)

const realm = `Bearer realm="provml"`

// check: authMiddleware.ts for the ingest scope; writes the 401/403 answer and returns false.
func (a *Auth) check(rw http.ResponseWriter, r *http.Request) bool {
	if a == nil {
		return true
	}
	header := r.Header.Get("Authorization")
	if header == "" {
		rw.Header().Set("WWW-Authenticate", realm+`, scope="ingest"`)
		sendJSON(rw, 401, map[string]string{"error": "unauthorized", "message": "this route needs a bearer token with the 'ingest' scope (Authorization: Bearer <token>)"})
		return false
	}
	role := ""
	if m := bearerRe.FindStringSubmatch(header); m != nil {
		d := sha256.Sum256([]byte(m[1]))
		for _, e := range a.entries {
			if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
				role = e.role
				break
			}
		}
	}
	if role == "" {
		rw.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", scope="ingest"`)
		sendJSON(rw, 401, map[string]string{"error": "invalid-token", "message": "the bearer token is not valid"})
		return false
	}
	if role == "query" {
		rw.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope", scope="ingest"`)
		sendJSON(rw, 403, map[string]string{"error": "forbidden", "message": "a token of role 'query' may not do this: the 'ingest' scope is needed"})
		return false
	}
	return true
}
