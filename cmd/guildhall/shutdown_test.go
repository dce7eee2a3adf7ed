package main_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/internal/testenv"
)

// buildBinary builds the real guildhall binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "guildhall")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build guildhall: %v\n%s", err, out)
	}
	return bin
}

// process is a running guildhall subcommand with its output captured.
type process struct {
	cmd  *exec.Cmd
	out  *strings.Builder
	done chan error
}

func start(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &strings.Builder{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

func (p *process) sigterm(t *testing.T, within time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.out)
		}
	case <-time.After(within):
		t.Fatalf("still running %s after SIGTERM\n%s", within, p.out)
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for range 300 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %s", addr)
}

const ingestToken = "test-ingest-token-0123456789abcdef"

// TestSIGTERMDrainsWorkerAndWeb sends SIGTERM to the built binary: the web server
// finishes a request that was in flight, both processes log their shutdown, stop
// accepting work and exit 0 promptly.
func TestSIGTERMDrainsWorkerAndWeb(t *testing.T) {
	ctx := context.Background()
	dev, err := testenv.StartDevServer(ctx, testenv.DevServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Stop()
	bin := buildBinary(t)
	webPort, _ := testenv.FreePort()
	m1, _ := testenv.FreePort()
	m2, _ := testenv.FreePort()
	db := "sqlite:" + filepath.Join(t.TempDir(), "ops.db")
	common := []string{"DATABASE_URL=" + db, "TEMPORAL_ADDRESS=" + dev.Address, "LOG_FORMAT=json"}
	mig := exec.Command(bin, "migrate", "up")
	mig.Env = append(os.Environ(), common...)
	if out, err := mig.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	worker := start(t, bin, append(common, fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", m1)), "worker")
	webAddr := fmt.Sprintf("127.0.0.1:%d", webPort)
	web := start(t, bin, append(common, "GUILDHALL_ADDR="+webAddr, fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", m2),
		"SESSION_SECRET="+strings.Repeat("s", 40), "CHRONICLE_INGEST_TOKEN="+ingestToken, "GUILDHALL_HOST=http://localhost:"+fmt.Sprint(webPort)), "web")
	waitListening(t, webAddr)
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", m1))

	// An in-flight request: a Chronicle upload whose body is still arriving when
	// SIGTERM comes. The server must finish it, not cut it off.
	conn, err := net.Dial("tcp", webAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	line := `{"id":"evt-sigterm","type":"deployment.observed","source":"test","time":"2026-11-27T10:00:00Z"}` + "\n"
	head := "POST /api/v1/chronicle HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ingestToken +
		"\r\nContent-Type: application/x-ndjson\r\nContent-Length: " + fmt.Sprint(len(line)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head+line[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	_ = web.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(700 * time.Millisecond)
	if _, err := io.WriteString(conn, line[10:]); err != nil {
		t.Fatalf("finish in-flight upload: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("in-flight request across SIGTERM answered %q (%v)\n%s", status, err, web.out)
	}
	select {
	case err := <-web.done:
		if err != nil {
			t.Fatalf("web exit: %v\n%s", err, web.out)
		}
	case <-time.After(25 * time.Second):
		t.Fatalf("web still running after SIGTERM\n%s", web.out)
	}
	// New connections are refused once it is down.
	if c, err := net.Dial("tcp", webAddr); err == nil {
		c.Close()
		t.Fatal("web still accepts connections after shutdown")
	}

	worker.sigterm(t, 25*time.Second)
	for _, want := range []string{`"worker stopping"`, `"Stopped Worker"`} {
		if !strings.Contains(worker.out.String(), want) {
			t.Fatalf("worker log lacks %s:\n%s", want, worker.out)
		}
	}
	if !strings.Contains(web.out.String(), `"web shutting down"`) {
		t.Fatalf("web log lacks the shutdown line (JSON logs expected):\n%s", web.out)
	}
}
