package bench

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/guildhouse/guildhall/internal/procgroup"
)

// Child is a Guildhall process (e.g. `guildhall worker`) run by the bench or a
// chaos test: its own process group, killed with the parent, output to a log.
type Child struct {
	Path    string
	Args    []string
	Env     []string // added to this process's environment
	LogPath string

	proc procgroup.Process
}

// Start starts the process.
func (c *Child) Start() error {
	log, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdout, cmd.Stderr = log, log
	if _, err := c.proc.Start(cmd, func() { log.Close() }); err != nil {
		log.Close()
		return fmt.Errorf("start %s %v: %w", c.Path, c.Args, err)
	}
	return nil
}

// PID is the process id (0 when not running).
func (c *Child) PID() int { return c.proc.PID() }

// Running reports whether the process has not exited.
func (c *Child) Running() bool { return c.proc.Running() }

// Kill sends SIGKILL (kill -9) to the process group and waits for the exit.
func (c *Child) Kill() { c.proc.Kill() }

// Stop sends SIGTERM and waits up to 20 s before SIGKILL.
func (c *Child) Stop() { c.proc.Stop(20 * time.Second) }
