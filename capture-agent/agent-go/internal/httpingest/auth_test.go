package httpingest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestTokensDecideAsTheNodeAgent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# ingest\n\ningest-token-0123456789\n"), 0o600)
	env := map[string]string{"PROVML_INGEST_TOKEN_FILE": file, "PROVML_QUERY_TOKENS": "query-token-0123456789"}
	a, err := AuthFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]int{
		"":                               401,
		"Bearer nope-nope-nope-nope":     401,
		"Basic abc":                      401,
		"Bearer query-token-0123456789":  403,
		"bearer ingest-token-0123456789": 0,
	} {
		rw := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		ok := a.check(rw, r)
		if (want == 0) != ok || (want != 0 && rw.Code != want) {
			t.Errorf("%q: allowed %v, status %d, want %d", header, ok, rw.Code, want)
		}
		if want == 401 && rw.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%q: no WWW-Authenticate", header)
		}
	}
}

func TestNoIngestTokenRefusesToStartUnlessDisabled(t *testing.T) {
	if _, err := AuthFromEnv(func(string) string { return "" }); err == nil {
		t.Fatal("started without access control")
	}
	a, err := AuthFromEnv(func(k string) string { return map[string]string{"PROVML_AUTH_DISABLED": "true"}[k] })
	if err != nil || a != nil {
		t.Fatalf("disabled: %v %v", a, err)
	}
	if _, err := AuthFromEnv(func(k string) string { return map[string]string{"PROVML_ADMIN_TOKENS": "short"}[k] }); err == nil {
		t.Fatal("accepted a short token")
	}
}
