package session

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// maxURLLen bounds both URLs before parsing.
const maxURLLen = 2 << 10

// sameHTU compares a proof's htu with the request URL after the
// normalisations RFC 9449 §4.3 asks for (RFC 3986 §6.2.2 syntax-based and
// §6.2.3 scheme-based), ignoring query and fragment.
func sameHTU(htu, requestURL string) error {
	got, err := normalizeHTU(htu)
	if err != nil {
		return fmt.Errorf("htu: %w", err)
	}
	want, err := normalizeHTU(requestURL)
	if err != nil {
		return fmt.Errorf("request URL: %w", err)
	}
	if got != want {
		return fmt.Errorf("htu %q, request %q", got, want)
	}
	return nil
}

// normalizeHTU returns scheme://host[:port]/path: scheme and host in lower
// case, the default port dropped, percent-encodings in upper case and
// unreserved characters decoded, dot segments removed, an empty path as "/".
// User info is refused: no URL of ours carries one.
func normalizeHTU(raw string) (string, error) {
	if raw == "" || len(raw) > maxURLLen {
		return "", errors.New("empty or too long")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", errors.New("not an absolute http(s) URL without user info")
	}
	p, err := normalizePercent(u.EscapedPath())
	if err != nil {
		return "", err
	}
	return scheme + "://" + normalizeHost(scheme, u) + removeDotSegments(p), nil
}

func normalizeHost(scheme string, u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		return host
	}
	return host + ":" + port
}

// normalizePercent upper-cases the hex of every %XX and decodes those that
// stand for unreserved characters (RFC 3986 §2.3), which mean the same
// whether encoded or not.
func normalizePercent(p string) (string, error) {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", errors.New("bad percent-encoding")
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(p[i+1:i+3]))
		}
		i += 2
	}
	return b.String(), nil
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute (or empty) path.
func removeDotSegments(p string) string {
	if p == "" {
		return "/"
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last { // "/a/." and "/a/b/.." keep their final slash
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
