package kubetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Options tune Start.
type Options struct {
	// CRDDir holds the CRD manifests to install; default <module root>/deploy/crds.
	CRDDir string
	// ExtraAPIServerFlags are appended to the kube-apiserver command line.
	ExtraAPIServerFlags []string
	// StartTimeout bounds etcd + apiserver start-up; default 90s (a busy 2-core CI
	// box takes 4–20 s).
	StartTimeout time.Duration
}

// Server is a running etcd + kube-apiserver pair.
type Server struct {
	// Config authenticates as an admin (group system:masters).
	Config *rest.Config
	// URL is the apiserver's https address.
	URL string
	// Dir holds certificates, etcd data and the two logs.
	Dir string

	etcd, apiserver *process
}

// process is a child with its output in a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Start launches etcd and kube-apiserver on free loopback ports, waits until the
// apiserver is ready, and installs the CRDs. Call Stop when done.
func Start(ctx context.Context, o Options) (*Server, error) {
	bins, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 90 * time.Second
	}
	if o.CRDDir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return nil, err
		}
		o.CRDDir = filepath.Join(root, "deploy", "crds")
	}
	// A port picked free can be taken by another test before the server binds it;
	// a fresh attempt with new ports settles that.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(ctx, bins, o)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bins Binaries, o Options) (s *Server, err error) {
	dir, err := os.MkdirTemp("", "guildhall-kubetest-")
	if err != nil {
		return nil, err
	}
	s = &Server{Dir: dir}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()

	p, err := newPKI(dir)
	if err != nil {
		return nil, err
	}
	etcdURL, err := s.startEtcd(bins.Etcd)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	s.apiserver, err = startProcess("kube-apiserver", dir, bins.APIServer, apiserverFlags(port, etcdURL, p, o.ExtraAPIServerFlags)...)
	if err != nil {
		return nil, err
	}
	s.Config = &rest.Config{
		Host:            s.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM, CertData: p.adminPEM, KeyData: p.akPEM},
		QPS:             100,
		Burst:           200,
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := InstallCRDs(ctx, s.Config, o.CRDDir); err != nil {
		return nil, err
	}
	return s, nil
}

func apiserverFlags(port int, etcdURL string, p *pki, extra []string) []string {
	flags := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--etcd-servers=" + etcdURL,
		"--tls-cert-file=" + p.servingCert,
		"--tls-private-key-file=" + p.servKey,
		"--client-ca-file=" + p.caCert,
		// RBAC only, so the watcher's least-privilege role is really what is enforced.
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saKey,
		"--service-account-signing-key-file=" + p.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		// The default reconciler refuses a loopback advertise address; nothing in the
		// tests needs the kubernetes Service endpoints.
		"--endpoint-reconciler-type=none",
		// No controller-manager runs, so nothing would mint SA tokens for pods.
		"--disable-admission-plugins=ServiceAccount",
		// Less work on a small shared machine; tests do not exercise these.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=1",
	}
	return append(flags, extra...)
}

func (s *Server) startEtcd(bin string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	s.etcd, err = startProcess("etcd", s.Dir, bin,
		"--name=kubetest",
		"--data-dir="+filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		// Test data is throwaway; fsync only slows a shared disk down.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	return clientURL, err
}

func startProcess(name, dir, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, and killed with the test binary if it dies, so no server
	// outlives a crashed test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// waitReady polls /readyz, which includes the post-start hooks that create the RBAC
// bootstrap roles; so once it answers 200, RBAC and CRD creation work.
func (s *Server) waitReady(ctx context.Context) error {
	rt, err := rest.TransportFor(s.Config)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: rt, Timeout: 5 * time.Second}
	var last string
	for {
		select {
		case <-s.etcd.done:
			return fmt.Errorf("etcd exited during start-up:\n%s", tail(s.etcd.log))
		case <-s.apiserver.done:
			return fmt.Errorf("kube-apiserver exited during start-up:\n%s", tail(s.apiserver.log))
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready (%s): %w\n%s", last, ctx.Err(), tail(s.apiserver.log))
		case <-time.After(250 * time.Millisecond):
		}
		last = probe(ctx, hc, s.URL+"/readyz")
		if last == "" {
			return nil
		}
	}
}

// probe returns "" when url answers 200, else why not.
func probe(ctx context.Context, hc *http.Client, url string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "readyz: " + resp.Status
	}
	return ""
}

// Stop ends the apiserver, then etcd, and removes the working directory.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	s.apiserver.stop()
	s.etcd.stop()
	if s.Dir != "" && os.Getenv("KUBETEST_KEEP") == "" {
		_ = os.RemoveAll(s.Dir)
	}
}

func (p *process) stop() {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// APIServerLog returns the end of the apiserver's log, for failure messages.
func (s *Server) APIServerLog() string { return tail(s.apiserver.log) }

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
