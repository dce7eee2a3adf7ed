package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/guildhouse/guildhall/internal/config"
	"github.com/spf13/cobra"
)

// newHealthcheckCmd is `guildhall healthcheck`: the container health check. The image
// has no shell and no curl, so Docker's HEALTHCHECK and compose run this instead. It
// GETs one local endpoint and exits 0 on HTTP 200, 1 otherwise.
//
//	--target web      http://127.0.0.1:<port of GUILDHALL_ADDR>/health   (default :4000)
//	--target metrics  http://127.0.0.1:<port of METRICS_ADDR>/healthz    (default :9090)
//	--target auto     web first; if nothing listens there, metrics — so one HEALTHCHECK
//	                  serves the web, the worker and the watcher (the default)
//	--url URL         any URL, overriding --target
func newHealthcheckCmd() *cobra.Command {
	var (
		rawURL, target string
		timeout        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Probe this container's Guildhall process over HTTP (exit 0 healthy, 1 not); no curl needed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadProbe()
			if err != nil && rawURL == "" {
				return err
			}
			urls, err := healthcheckURLs(rawURL, target, cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			msg, err := runHealthcheck(ctx, &http.Client{Timeout: timeout}, urls)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&rawURL, "url", "", "URL to GET instead of the --target endpoint")
	cmd.Flags().StringVar(&target, "target", "auto", "which endpoint: web (/health), metrics (/healthz) or auto")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// healthcheckURLs lists the URLs to try in order; later ones are tried only when
// nothing listens at the earlier ones.
func healthcheckURLs(rawURL, target string, cfg config.Probe) ([]string, error) {
	if rawURL != "" {
		if !strings.HasPrefix(rawURL, "http://") && !strings.HasPrefix(rawURL, "https://") {
			return nil, fmt.Errorf("--url %q: want an http:// or https:// URL", rawURL)
		}
		return []string{rawURL}, nil
	}
	web, err := localURL(cfg.Addr, "/health")
	if err != nil {
		return nil, fmt.Errorf("GUILDHALL_ADDR: %w", err)
	}
	metrics, err := localURL(cfg.MetricsAddr, "/healthz")
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	switch target {
	case "web":
		return []string{web}, nil
	case "metrics":
		return []string{metrics}, nil
	case "auto", "":
		return []string{web, metrics}, nil
	}
	return nil, fmt.Errorf("--target %q: want web, metrics or auto", target)
}

// localURL turns a listen address (":4000", "0.0.0.0:4000", "[::]:4000",
// "10.0.0.5:4000") into a URL on this host: loopback unless a specific host is set.
func localURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port == "" {
		return "", fmt.Errorf("%q has no port", addr)
	}
	if ip := net.ParseIP(host); host == "" || host == "localhost" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// runHealthcheck GETs the URLs in order and reports the first answer: nil for 200,
// an error with the body's first line otherwise. It moves to the next URL only when
// the connection is refused (nothing listens there).
func runHealthcheck(ctx context.Context, c *http.Client, urls []string) (string, error) {
	var refused []string
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("User-Agent", "guildhall-healthcheck")
		resp, err := c.Do(req)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				refused = append(refused, u)
				continue
			}
			return "", fmt.Errorf("unhealthy: GET %s: %w", u, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("unhealthy: GET %s: %s %s", u, resp.Status, line)
		}
		return fmt.Sprintf("healthy: GET %s: %s", u, line), nil
	}
	return "", fmt.Errorf("unhealthy: nothing listens at %s", strings.Join(refused, " or "))
}
