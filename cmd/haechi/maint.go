package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/oauth"
)

func cmdMigrate(ctx context.Context, args []string, out io.Writer) error {
	env := config.OSEnv()
	cfg, _, err := config.Load("migrate", args, false, env)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, env, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintln(out, "schema is up to date")
	return nil
}

func cmdAudit(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return usageErr("audit verify|export")
	}
	sub := args[0]
	return withApp(ctx, "audit "+sub, args[1:], nil, func(a *app, _ []string) error {
		if sub == "export" {
			_, err := audit.Export(ctx, a.db, out)
			return err
		}
		return auditVerify(ctx, a, out)
	})
}

// auditVerify exits 0 on an intact chain and 3 naming the first broken entry.
func auditVerify(ctx context.Context, a *app, out io.Writer) error {
	n, brk, err := audit.Verify(ctx, a.db, a.auditKey().Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	if brk != nil {
		return &exitError{3, fmt.Errorf("audit chain broken at event %d: %s (%d events checked before it)", brk.Seq, brk.Reason, n)}
	}
	fmt.Fprintf(out, "audit chain intact: %d events verified\n", n)
	return nil
}

func cmdKeys(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "rotate-signing") {
		return usageErr("keys rotate|rotate-signing")
	}
	sub := args[0]
	return withApp(ctx, "keys "+sub, args[1:], nil, func(a *app, _ []string) error {
		if sub == "rotate-signing" {
			return rotateSigning(ctx, a, out)
		}
		return rotateMaster(ctx, a, out)
	})
}

// rotateMaster adds a master key version to the key file, saves the file
// before any data key depends on the new version (a crash in between loses
// nothing), then re-wraps every data key under it. With key material from the
// environment, the new version is added there (HAECHI_MASTER_KEYS on every
// node) and this command only re-wraps under the highest version.
func rotateMaster(ctx context.Context, a *app, out io.Writer) error {
	v := a.keys.ActiveMaster
	if !a.keysFromEnv {
		var err error
		if v, err = crypto.AddMasterKey(a.keys); err != nil {
			return err
		}
		if err := crypto.SaveKeyFile(a.cfg.KeyFilePath(), a.keys); err != nil {
			return fmt.Errorf("saving the key file with master key %d: %w", v, err)
		}
	}
	if err := crypto.Rewrap(ctx, a.keys, a.db, a.now); err != nil {
		return err
	}
	fmt.Fprintf(out, "master key version %d is active; every data key is re-wrapped under it\n", v)
	return nil
}

func rotateSigning(ctx context.Context, a *app, out io.Writer) error {
	c := a.cfg
	iss, err := oauth.NewIssuer(ctx, oauth.Config{Issuer: c.TokenIssuer, Audience: c.TokenAudience, TTL: c.TokenTTL}, a.db, a.ring, a.now)
	if err != nil {
		return err
	}
	kid, err := iss.Rotate(ctx, cliActor)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "new token signing key %s is active; the previous key stays published until its tokens expire\n", kid)
	return nil
}
