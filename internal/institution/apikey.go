package institution

import "strings"

// API keys look like hk_<id>_<secret>: id is 26 and secret 52 lowercase
// base32 characters (128 and 256 random bits). The prefix makes leaked keys
// easy to find with secret scanners.
const (
	apiKeyPrefix = "hk_"
	apiKeyIDLen  = 26
	apiKeySecLen = 52
	apiKeyLen    = len(apiKeyPrefix) + apiKeyIDLen + 1 + apiKeySecLen
)

// FormatAPIKey joins an id and a secret into the key a client presents.
func FormatAPIKey(id, secret string) string { return apiKeyPrefix + id + "_" + secret }

// ParseAPIKey splits a presented key. It checks only the shape, in time that
// does not depend on where the input goes wrong beyond its length.
func ParseAPIKey(raw string) (id, secret string, err error) {
	if len(raw) != apiKeyLen || !strings.HasPrefix(raw, apiKeyPrefix) {
		return "", "", ErrBadKey
	}
	body := raw[len(apiKeyPrefix):]
	if body[apiKeyIDLen] != '_' {
		return "", "", ErrBadKey
	}
	id, secret = body[:apiKeyIDLen], body[apiKeyIDLen+1:]
	if !isBase32(id) || !isBase32(secret) {
		return "", "", ErrBadKey
	}
	return id, secret, nil
}

// validID checks an id made by crypto.NewID(prefix).
func validID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	return ok && len(rest) == 26 && isBase32(rest)
}

func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
