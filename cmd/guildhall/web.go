package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/chronicle"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/evidence"
	"github.com/guildhouse/guildhall/internal/config"
	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/watcher/crd"
	"github.com/guildhouse/guildhall/web"
)

func newWebCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "web",
		Short: "Serve the witness web app and JSON API (GUILDHALL_ADDR, default :4000)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := configure(config.LoadWeb)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := openStore(ctx, cfg.Database)
			if err != nil {
				return err
			}
			defer s.Close()
			c, err := dialTemporal(ctx, cfg.Temporal, "guildhall-web", nil)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := requireSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
				return err
			}
			wcfg := web.Config{
				BaseURL: cfg.Host, SessionSecret: []byte(cfg.SessionSecret),
				IngestToken: cfg.IngestToken, TrustedProxies: cfg.TrustedProxies,
			}
			if cfg.OIDC.Enabled() {
				roles, _ := cfg.OIDC.Roles() // checked when the configuration loaded
				wcfg.OIDC = &web.OIDCConfig{Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID, ClientSecret: cfg.OIDC.ClientSecret,
					RolesClaim: cfg.OIDC.RolesClaim, RoleMap: roles}
				if len(roles) == 0 {
					log.Warn("OIDC_ROLE_MAP is empty: nobody is added to the directory from the identity provider's groups; people log in read-only unless an admin adds them")
				}
			} else {
				log.Warn("OIDC_ISSUER is not set: nobody can log in to the web app (set OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET)")
			}
			cluster, err := newClusterMode(ctx, log, cfg, s)
			if err != nil {
				return err
			}
			if cluster != nil {
				wcfg.Namespace = cluster.namespace
			}
			go serveMetrics(ctx, log, cfg.MetricsAddr)
			return serveWebWith(ctx, log, cfg.Addr, wcfg, s, ceremonyclient.New(c), cluster.creator())
		},
	}
}

// clusterMode is the web's cluster mode: the composer creates Ceremony resources
// in namespace and the watcher starts their workflows.
type clusterMode struct {
	namespace string
	crd       *crd.Creator
}

func (m *clusterMode) creator() web.CeremonyCreator {
	if m == nil {
		return nil // a nil *crd.Creator in the interface would not read as "off"
	}
	return m.crd
}

// newClusterMode returns the composer's cluster mode when GUILDHALL_CLUSTER_MODE
// is on (nil otherwise), with the Kubernetes config from KUBECONFIG, else the
// pod's service account, as for the watcher. A cluster that refuses the web's
// dry-run create is logged, not fatal: the rest of the app works, and the
// composer shows the same reason to whoever tries.
func newClusterMode(ctx context.Context, log *slog.Logger, cfg config.Web, s *store.Store) (*clusterMode, error) {
	if !cfg.ClusterMode {
		return nil, nil
	}
	ns := cfg.CeremonyNamespace
	kcfg, err := kubeConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("GUILDHALL_CLUSTER_MODE=true: %w (in a pod: automountServiceAccountToken: true on the web Deployment)", err)
	}
	kcfg.UserAgent = "guildhall-web"
	dyn, err := dynamic.NewForConfig(kcfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	m := &clusterMode{namespace: ns, crd: &crd.Creator{Dynamic: dyn, InUse: func(ctx context.Context, id string) (bool, error) {
		_, err := s.GetCeremony(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}}}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := m.crd.Check(cctx, ns); err != nil {
		log.Error("cluster mode: the composer cannot create Ceremonies; it will show this reason until fixed", "namespace", ns, "err", err)
	} else {
		log.Info("cluster mode: the composer creates Ceremony resources; the watcher starts their workflows", "namespace", ns, "server", kcfg.Host)
	}
	return m, nil
}

// serveWeb runs the web app until ctx ends, then shuts down gracefully: new
// connections are refused and in-flight requests get up to 20 s to finish.
func serveWeb(ctx context.Context, log *slog.Logger, addr string, cfg web.Config, s *store.Store, cc *ceremonyclient.Client) error {
	return serveWebWith(ctx, log, addr, cfg, s, cc, nil)
}

// serveWebWith is serveWeb with the composer in cluster mode when cluster is set.
func serveWebWith(ctx context.Context, log *slog.Logger, addr string, cfg web.Config, s *store.Store, cc *ceremonyclient.Client, cluster web.CeremonyCreator) error {
	m := web.NewMetrics()
	if err := prometheus.Register(m); err != nil {
		return fmt.Errorf("register web metrics: %w", err)
	}
	deps := web.Deps{Store: s, Ceremonies: cc, Logger: log, Metrics: m, Evidence: evidence.Handler(s, nil), Cluster: cluster, Intune: cc}
	if cfg.IngestToken != "" {
		start := func(ctx context.Context, job contract.IntuneJob) error {
			_, err := cc.StartIntune(ctx, job)
			return err
		}
		deps.ChronicleIngest = chronicle.NewHandler(chronicle.NewProjector(s).WithIntune(intuneWithdrawal(s, start)), cfg.IngestToken)
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
