package validate

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The absolute-IRI grammar of RFC 3987 §2.2 as in schemas/src/iri.ts (isRfc3987Iri), in RE2 syntax.
var absoluteIRI = func() *regexp.Regexp {
	ucschar := `\x{A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}` +
		`\x{10000}-\x{1FFFD}\x{20000}-\x{2FFFD}\x{30000}-\x{3FFFD}\x{40000}-\x{4FFFD}` +
		`\x{50000}-\x{5FFFD}\x{60000}-\x{6FFFD}\x{70000}-\x{7FFFD}\x{80000}-\x{8FFFD}` +
		`\x{90000}-\x{9FFFD}\x{A0000}-\x{AFFFD}\x{B0000}-\x{BFFFD}\x{C0000}-\x{CFFFD}` +
		`\x{D0000}-\x{DFFFD}\x{E1000}-\x{EFFFD}`
	iunreserved := `A-Za-z0-9\-._~` + ucschar
	subDelims := `!$&'()*+,;=`
	pct := `%[0-9A-Fa-f]{2}`
	ipchar := `(?:[` + iunreserved + subDelims + `:@]|` + pct + `)`
	scheme := `[A-Za-z][A-Za-z0-9+\-.]*`
	iuserinfo := `(?:[` + iunreserved + subDelims + `:]|` + pct + `)*`
	decOctet := `(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])`
	ipv4 := decOctet + `(?:\.` + decOctet + `){3}`
	h16 := `[0-9A-Fa-f]{1,4}`
	ls32 := `(?:` + h16 + `:` + h16 + `|` + ipv4 + `)`
	ipv6 := `(?:` + strings.Join([]string{
		`(?:` + h16 + `:){6}` + ls32,
		`::(?:` + h16 + `:){5}` + ls32,
		`(?:` + h16 + `)?::(?:` + h16 + `:){4}` + ls32,
		`(?:(?:` + h16 + `:){0,1}` + h16 + `)?::(?:` + h16 + `:){3}` + ls32,
		`(?:(?:` + h16 + `:){0,2}` + h16 + `)?::(?:` + h16 + `:){2}` + ls32,
		`(?:(?:` + h16 + `:){0,3}` + h16 + `)?::` + h16 + `:` + ls32,
		`(?:(?:` + h16 + `:){0,4}` + h16 + `)?::` + ls32,
		`(?:(?:` + h16 + `:){0,5}` + h16 + `)?::` + h16,
		`(?:(?:` + h16 + `:){0,6}` + h16 + `)?::`,
	}, "|") + `)`
	ipvFuture := `v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~` + subDelims + `:]+`
	ihost := `(?:\[(?:` + ipv6 + `|` + ipvFuture + `)\]|(?:[` + iunreserved + subDelims + `]|` + pct + `)*)`
	iauthority := `(?:` + iuserinfo + `@)?` + ihost + `(?::[0-9]*)?`
	isegment := ipchar + `*`
	ihierPart := `(?://` + iauthority + `(?:/` + isegment + `)*` +
		`|/(?:` + ipchar + `+(?:/` + isegment + `)*)?` +
		`|` + ipchar + `+(?:/` + isegment + `)*` +
		`|)`
	iquery := `(?:` + ipchar + `|[/?])*`
	return regexp.MustCompile(`^` + scheme + `:` + ihierPart + `(?:\?` + iquery + `)?(?:#` + iquery + `)?$`)
}()

// isAbsoluteIRI: schemas/src/eventRules.ts isAbsoluteIri: RFC 3987, at most 8192 UTF-16 units,
// and one a URL parser reads. Node uses the WHATWG URL parser; here Go's net/url plus the host and
// port checks WHATWG makes for the common schemes (a port above 65535 or not a number is refused).
func isAbsoluteIRI(uri string) bool {
	if uri == "" || utf16Len(uri) > 8192 || !absoluteIRI.MatchString(uri) {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n > 65535 {
			return false
		}
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ws", "wss", "ftp":
		return u.Host != "" && u.Hostname() != ""
	}
	return true
}
