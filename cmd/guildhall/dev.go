package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/internal/devserver"
	"github.com/guildhouse/guildhall/web"
	"github.com/guildhouse/guildhall/worker"
)

type devOptions struct {
	addr          string
	startTemporal bool
	dataDir       string
}

func newDevCmd() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process for local use: migrate, seed, worker and web with the development login",
		Long: `dev runs the whole system locally on embedded defaults: the Ops DB is an embedded
SQLite file under the data folder unless DATABASE_URL is set, and with
--start-temporal it also runs a Temporal dev server (state kept in the data folder,
gRPC on 7233, UI on 8233). It enables the development-only login that lets anyone
act as any witness; never expose it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd.Context(), o) },
	}
	cmd.Flags().StringVar(&o.addr, "addr", "", "web listen address (default GUILDHALL_ADDR, else 127.0.0.1:4000)")
	cmd.Flags().BoolVar(&o.startTemporal, "start-temporal", false, "start a Temporal dev server too (needs the temporal CLI; `make run` does this)")
	cmd.Flags().StringVar(&o.dataDir, "data", ".data", "folder for the embedded database and the dev server's state")
	return cmd
}

func runDev(ctx context.Context, o devOptions) error {
	cfg, log, err := configure(config.LoadDev)
	if err != nil {
		return err
	}
	if o.addr == "" {
		o.addr = cfg.Addr
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if cfg.Database.URL == "" {
		cfg.Database.URL = "sqlite:" + filepath.Join(o.dataDir, "guildhall.db")
	}
	if o.startTemporal {
		srv, err := startDevTemporal(ctx, o.dataDir)
		if err != nil {
			return err
		}
		defer srv.Stop()
		cfg.Temporal.Address = srv.Address
	}
	setWorkflowCacheSize(cfg.WorkflowCacheSize)
	s, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.MigrateUp(ctx); err != nil {
		return err
	}
	c, err := dialTemporal(ctx, cfg.Temporal, "guildhall-dev", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	cc := ceremonyclient.New(c)
	if err := seed(ctx, s, cc); err != nil {
		return err
	}
	base := cfg.Host
	if base == "" {
		base = "http://localhost" + portOf(o.addr)
	}
	fmt.Printf("\n  Guildhall      %s   (development login: pick a witness)\n  Temporal UI    http://localhost:8233\n  Ops DB         %s\n  Stop with Ctrl-C.\n\n", base, s.Dialect)
	g, gctx := errgroup.WithContext(ctx)
	acts := newActivities(s, cfg.Notify, base, log)
	if err := withGraph(acts, cfg.Graph, log); err != nil {
		return err
	}
	keepDriftSchedule(ctx, cc, cfg.Graph, log)
	g.Go(func() error { return runWorker(gctx, log, worker.New(c, acts, workerOptions())) })
	g.Go(func() error {
		wcfg := web.Config{BaseURL: base, SessionSecret: devSecret(), DevLogin: true}
		return serveWeb(gctx, log, o.addr, wcfg, s, cc)
	})
	return g.Wait()
}

func startDevTemporal(ctx context.Context, dataDir string) (*devserver.DevServer, error) {
	slog.Info("starting Temporal dev server", "grpc", "127.0.0.1:7233", "ui", "http://localhost:8233")
	srv, err := devserver.StartDevServer(ctx, devserver.DevServerOptions{
		DBFile: filepath.Join(dataDir, "temporal.db"), LogPath: filepath.Join(dataDir, "temporal.log"),
		Port: 7233, UIPort: 8233,
	})
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// devSecret is a fresh session key per run: dev sessions end when dev stops.
func devSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i:]
		}
	}
	return ""
}
