// Package testenv starts the real services integration tests need: a Temporal dev
// server on free loopback ports and a fresh Postgres database. Nothing is skipped:
// a missing dependency fails the test with the command that installs it.
package testenv

import (
	"context"

	"github.com/guildhouse/guildhall/internal/devserver"
)

// DevServer is a running Temporal dev server.
type DevServer = devserver.DevServer

// DevServerOptions tune StartDevServer.
type DevServerOptions = devserver.DevServerOptions

// StartDevServer starts a dev server on free loopback ports.
func StartDevServer(ctx context.Context, o DevServerOptions) (*DevServer, error) {
	return devserver.StartDevServer(ctx, o)
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort() (int, error) { return devserver.FreePort() }

// TemporalBinary finds the temporal CLI.
func TemporalBinary() (string, error) { return devserver.TemporalBinary() }
