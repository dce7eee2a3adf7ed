package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/chronicle"
	"github.com/guildhouse/guildhall/evidence"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/web"
)

func newWebCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "web",
		Short: "Serve the witness web app and JSON API (GUILDHALL_ADDR, default :4000)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(env("LOG_FORMAT", "json"))
			ctx := cmd.Context()
			secret := env("SESSION_SECRET", os.Getenv("SECRET_KEY_BASE"))
			if len(secret) < 32 {
				return errors.New("SESSION_SECRET (or SECRET_KEY_BASE) must be set to at least 32 random characters")
			}
			s, err := openStore(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			c, err := dialTemporal(ctx, "guildhall-web")
			if err != nil {
				return err
			}
			defer c.Close()
			cfg := web.Config{
				BaseURL: env("GUILDHALL_HOST", "http://localhost:4000"), SessionSecret: []byte(secret),
				OIDC: oidcFromEnv(), IngestToken: os.Getenv("CHRONICLE_INGEST_TOKEN"),
				TrustedProxies: splitList(os.Getenv("TRUSTED_PROXIES")),
			}
			if cfg.OIDC == nil {
				log.Warn("OIDC_ISSUER is not set: nobody can log in to the web app (set OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET)")
			}
			go serveMetrics(ctx, log, env("METRICS_ADDR", ":9090"))
			return serveWeb(ctx, log, env("GUILDHALL_ADDR", ":4000"), cfg, s, ceremonyclient.New(c))
		},
	}
}

// serveWeb runs the web app until ctx ends, then shuts down gracefully: new
// connections are refused and in-flight requests get up to 20 s to finish.
func serveWeb(ctx context.Context, log *slog.Logger, addr string, cfg web.Config, s *store.Store, cc *ceremonyclient.Client) error {
	m := web.NewMetrics()
	if err := prometheus.Register(m); err != nil {
		return fmt.Errorf("register web metrics: %w", err)
	}
	deps := web.Deps{Store: s, Ceremonies: cc, Logger: log, Metrics: m, Evidence: evidence.Handler(s, nil)}
	if cfg.IngestToken != "" {
		deps.ChronicleIngest = chronicle.NewHandler(chronicle.NewProjector(s), cfg.IngestToken)
	}
	app, err := web.New(cfg, deps)
	if err != nil {
		return err
	}
	srv := web.NewServer(addr, app)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("web listening", "addr", addr, "url", cfg.BaseURL)
	select {
	case err := <-errc:
		return fmt.Errorf("web server on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("web shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down web server: %w", err)
	}
	return nil
}

// oidcFromEnv returns the OIDC login settings, or nil when OIDC_ISSUER is unset.
func oidcFromEnv() *web.OIDCConfig {
	issuer := os.Getenv("OIDC_ISSUER")
	if issuer == "" {
		return nil
	}
	return &web.OIDCConfig{Issuer: issuer, ClientID: os.Getenv("OIDC_CLIENT_ID"), ClientSecret: os.Getenv("OIDC_CLIENT_SECRET")}
}
