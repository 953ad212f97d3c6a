// Package crypto holds every cryptographic primitive haechi uses: envelope
// encryption of PII fields, blind indexes, Argon2id for secrets people type,
// random identifiers and constant-time comparison.
//
// Keys form a small hierarchy. The key material (a key file in the data dir,
// or the environment) holds versioned master keys; they never encrypt data
// themselves, only wrap the data keys kept in the database. Rotating a master
// key therefore re-wraps a handful of data keys instead of re-encrypting every
// row. The blind index key, the pepper and the audit signing seed are separate
// secrets so that no key serves two purposes.
package crypto
