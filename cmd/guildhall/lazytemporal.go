package main

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
)

// lazyTemporal connects a command-line tool to Temporal the first time it
// must tell a ceremony something or start a workflow, so a command that turns
// out to need neither (a change no open ceremony concerns, an import with no
// revocation) runs without Temporal. A failed connection is the answer to
// every later use; Close closes the connection if one was made.
type lazyTemporal struct {
	identity string // the client identity Temporal records, e.g. "guildhall-cli"

	once sync.Once
	c    client.Client
	cc   *ceremonyclient.Client
	err  error
}

// dialTimeout and callTimeout bound a tool's wait for an unreachable Temporal.
const (
	dialTimeout = 10 * time.Second
	callTimeout = 10 * time.Second
)

func (l *lazyTemporal) client(ctx context.Context) (*ceremonyclient.Client, error) {
	l.once.Do(func() {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		l.c, l.err = dialTool(dctx, l.identity)
		if l.err == nil {
			l.cc = ceremonyclient.New(l.c)
		}
	})
	return l.cc, l.err
}

// Signal sends a ceremony a signal (ceremonyclient.Signaler).
func (l *lazyTemporal) Signal(ctx context.Context, ceremonyID, name string, payload any) error {
	cc, err := l.client(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return cc.Signal(sctx, ceremonyID, name, payload)
}

// StartIntune starts an IntuneDeploy run without waiting for it.
func (l *lazyTemporal) StartIntune(ctx context.Context, job contract.IntuneJob) error {
	cc, err := l.client(ctx)
	if err != nil {
		return err
	}
	_, err = cc.StartIntune(ctx, job)
	return err
}

func (l *lazyTemporal) Close() {
	if l.c != nil {
		l.c.Close()
	}
}
