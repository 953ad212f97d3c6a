package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/postgres"
	"github.com/haechi/haechi/internal/redis"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
)

// app is haechi's wiring: the database, the keys and the services on top.
type app struct {
	cfg          *config.Config
	keys         *crypto.KeyMaterial
	keysFromEnv  bool
	db           *sqlstore.DB
	ring         *crypto.Keyring
	hasher       *crypto.Hasher
	institutions *institution.Service
	operators    *operator.Service
	customers    *customer.Service
	login        *login.Service
	devices      *deviceWiring  // built by server, for serve only
	ekyc         *ekycWiring    // built by server, for serve only
	payments     *paymentWiring // built by server, for serve only
	// rdb is the Redis client the rate limiter and the fraud engine's
	// velocity cache share; nil until redis opens it, or when not set.
	rdb *goredis.Client
	now func() time.Time
}

// schemaMode says what to do about pending migrations when opening.
type schemaMode int

const (
	schemaCheck   schemaMode = iota // refuse an outdated schema
	schemaMigrate                   // apply pending migrations first
)

// openApp loads keys, opens the database and builds the services.
func openApp(ctx context.Context, cfg *config.Config, env config.Env, mode schemaMode) (*app, error) {
	a := &app{cfg: cfg, now: time.Now}
	var err error
	if a.keys, a.keysFromEnv, err = loadKeys(cfg, env); err != nil {
		return nil, err
	}
	if a.db, err = openDB(ctx, cfg, a.auditSigner()); err != nil {
		return nil, err
	}
	if err := a.prepareSchema(ctx, mode); err != nil {
		a.db.Close()
		return nil, err
	}
	if a.ring, err = crypto.LoadKeyring(ctx, a.keys, a.db, a.now); err != nil {
		a.db.Close()
		return nil, fmt.Errorf("loading data keys: %w", err)
	}
	a.buildServices()
	return a, nil
}

func (a *app) prepareSchema(ctx context.Context, mode schemaMode) error {
	if mode == schemaMigrate {
		if _, err := a.db.Migrate(ctx); err != nil {
			return fmt.Errorf("migrating: %w", err)
		}
	}
	return a.db.CheckSchema(ctx)
}

func (a *app) buildServices() {
	c := a.cfg
	a.hasher = crypto.NewHasher(a.keys.Pepper, crypto.HashParams{Time: uint32(c.HashTime), MemKiB: uint32(c.HashMemoryKiB), Threads: 1}, c.HashWorkers, c.HashQueue)
	a.institutions = &institution.Service{Store: a.db, Pepper: a.keys.Pepper, Now: a.now}
	a.operators = &operator.Service{Store: a.db, Hasher: a.hasher, Ring: a.ring, Pepper: a.keys.Pepper, Now: a.now}
	a.customers = &customer.Service{Store: a.db, Ring: a.ring, Now: a.now}
	a.buildLogin()
}

func (a *app) auditSigner() *audit.Signer {
	return &audit.Signer{Key: a.auditKey(), Every: int64(a.cfg.CheckpointEvery)}
}

func (a *app) auditKey() ed25519.PrivateKey { return a.keys.AuditKey() }

func (a *app) Close() {
	if a.rdb != nil {
		a.rdb.Close()
	}
	a.db.Close()
}

// redis opens the Redis of HAECHI_REDIS_URL once and shares it; nil when
// the setting is empty.
func (a *app) redis(ctx context.Context) (*goredis.Client, error) {
	if a.rdb != nil || a.cfg.RedisURL == "" {
		return a.rdb, nil
	}
	client, err := redis.Open(ctx, a.cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("setting HAECHI_REDIS_URL: %w", err)
	}
	a.rdb = client
	return client, nil
}

// openDB opens PostgreSQL when a URL is set, else the SQLite file in the data dir.
func openDB(ctx context.Context, cfg *config.Config, signer *audit.Signer) (*sqlstore.DB, error) {
	opts := sqlstore.Options{Signer: signer, Now: time.Now}
	if cfg.Postgres() {
		db, err := postgres.Open(ctx, cfg.DatabaseURL, opts)
		if err != nil {
			return nil, fmt.Errorf("opening PostgreSQL (HAECHI_DATABASE_URL): %w", err)
		}
		return db, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("setting HAECHI_DATA_DIR: %w", err)
	}
	db, err := sqlite.Open(cfg.SQLitePath(), opts)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite %s: %w", cfg.SQLitePath(), err)
	}
	return db, nil
}

// loadKeys takes key material from the environment when set, else from the
// key file in the data dir, creating it on first start.
func loadKeys(cfg *config.Config, env config.Env) (*crypto.KeyMaterial, bool, error) {
	var resolveErr error
	get := func(name string) string {
		v, err := env.Resolve(name)
		if err != nil && resolveErr == nil {
			resolveErr = err
		}
		return v
	}
	km, ok, err := crypto.KeyMaterialFromEnv(get)
	if err = errors.Join(resolveErr, err); err != nil {
		return nil, false, err
	}
	if ok {
		return km, true, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("setting HAECHI_DATA_DIR: %w", err)
	}
	km, _, err = crypto.LoadOrCreateKeyFile(cfg.KeyFilePath())
	return km, false, err
}
