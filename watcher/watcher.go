// Package watcher turns changes to substrate Ceremony resources into messages to
// ceremony workflows: a new resource starts its workflow (SignalWithStart), a new
// spec generation becomes `spec-changed`, a substrate phase becomes
// `substrate-decision`, and a deletion becomes `cancel`.
//
// Exactly-once delivery rests on two things. Every message carries an idempotency
// key computed from the resource state that caused it (UID + generation, + phase),
// and the watcher keeps a ledger of keys already delivered per workflow. The ledger
// is read back from the workflow's own Temporal history the first time a key is
// synced after a start or a leadership change, so it survives restarts and
// handovers without writing to the substrate's resources and without needing a
// worker to answer a query. Resyncs and relists then find every key delivered and
// send nothing.
//
// What the watcher itself decides about a resource — a generation it does not
// forward (invalid, after the ceremony ended, or a workflow id already used) and
// a deletion — is announced once through Notes (attest.Writer): one Event under
// a name derived from the outcome, and refusals also in the CeremonyAttestation's
// spec.refused, which a restarted watcher reads before announcing again. The
// workflow announces its own outcomes (opened, amended, closed) with its write-back.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"

	"github.com/guildhouse/guildhall/watcher/crd"
)

// ErrLostLeadership is returned by Run when another replica took the lease; the
// process should exit and be restarted, as Kubernetes controllers do.
var ErrLostLeadership = errors.New("lost the watcher leader lease")

// Config configures a Watcher. Zero values take the documented defaults.
type Config struct {
	// Namespaces to watch; empty means all.
	Namespaces []string
	// Resync re-delivers every cached Ceremony this often (default 10m). Resyncs
	// send nothing new; they are a safety net for a lost event.
	Resync time.Duration
	// Workers syncing keys in parallel (default 2).
	Workers int
	// Lease for leader election. An empty LeaseName disables election (single
	// replica, tests); LeaseNamespace defaults to "default".
	LeaseNamespace, LeaseName string
	// Identity of this replica in the lease (default: the host name).
	Identity string
	// Leader election timing (defaults DefaultLeaseDuration, DefaultRenewDeadline,
	// DefaultRetryPeriod; FailoverBound says what they promise).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// SyncTimeout bounds one key's sync (its Temporal calls). An in-flight sync
	// is allowed to finish after leadership ends rather than being cut off
	// mid-call, so its result is in Temporal before the next leader reads the
	// history. Default: LeaseDuration - RenewDeadline, the time between this
	// replica giving up the lease and another being allowed to take it.
	SyncTimeout time.Duration
	// MetricsAddr serves /metrics and /healthz when not empty.
	MetricsAddr string
	Logger      *slog.Logger
	// Now is the clock for deadline checks (default time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Resync == 0 {
		c.Resync = 10 * time.Minute
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.LeaseNamespace == "" {
		c.LeaseNamespace = "default"
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration, c.RenewDeadline, c.RetryPeriod = DefaultLeaseDuration, DefaultRenewDeadline, DefaultRetryPeriod
	}
	if c.SyncTimeout == 0 {
		c.SyncTimeout = max(c.LeaseDuration-c.RenewDeadline, time.Second)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// The lease timing. With these a standby leads at most FailoverBound (14.4 s)
// after the leader died; client-go's usual 15 s / 10 s / 2 s would allow 23.8 s
// (BenchmarkLeaderFailover measured 14.6–18.3 s with them). The price: the
// leader renews once a second instead of every two (one small write to the API
// server), gives up leading after 7 s without reaching the API server (then
// exits and is restarted), and a sync in flight at a handover has 3 s to finish.
const (
	DefaultLeaseDuration = 10 * time.Second
	DefaultRenewDeadline = 7 * time.Second
	DefaultRetryPeriod   = time.Second
)

// FailoverBound is the longest a warm standby takes to lead after the leader
// died without releasing the lease (its node failed, it was SIGKILLed): the
// promise 61-watcher.yaml and the runbook make. client-go's elector counts a
// lease as expired LeaseDuration after it last saw the holder renew it, and
// looks every RetryPeriod stretched by up to leaderelection.JitterFactor (120%):
// it may see the last renewal up to one stretched period late and try again up
// to one stretched period after the expiry. A graceful stop releases the lease
// and is over in about one RetryPeriod.
func FailoverBound(c Config) time.Duration {
	c.defaults()
	return c.LeaseDuration + 2*time.Duration(float64(c.RetryPeriod)*(1+leaderelection.JitterFactor))
}

// Watcher watches Ceremonies and syncs their workflows. Every replica keeps its
// informer cache and queue warm; only the lease holder runs the workers, so a new
// leader starts from a full queue and loses nothing.
type Watcher struct {
	cfg       Config
	kube      kubernetes.Interface
	factories []dynamicinformer.DynamicSharedInformerFactory
	informers map[string]cache.SharedIndexInformer // namespace ("" = all) → informer
	queue     workqueue.TypedRateLimitingInterface[string]
	syncer    *syncer
	metrics   *Metrics
	watchdog  *leaderelection.HealthzAdaptor
	log       *slog.Logger

	mu     sync.Mutex
	synced bool
}

// New builds a watcher. kube is used for the lease only; Events and refusals go
// through notes (an attest.Writer).
func New(cfg Config, dyn dynamic.Interface, kube kubernetes.Interface, wf Workflows, notes Notes) *Watcher {
	cfg.defaults()
	w := &Watcher{cfg: cfg, kube: kube, informers: map[string]cache.SharedIndexInformer{}, log: cfg.Logger,
		watchdog: leaderelection.NewLeaderHealthzAdaptor(cfg.LeaseDuration)}
	w.queue = workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter(),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "ceremonies"})
	w.metrics = NewMetrics(func() float64 { return float64(w.queue.Len()) })
	w.syncer = newSyncer(wf, notes, w.metrics, w.log, cfg.Now, w.get)
	namespaces := cfg.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, cfg.Resync, ns, nil)
		inf := f.ForResource(crd.CeremonyGVR).Informer()
		if _, err := inf.AddEventHandler(w.handlers()); err != nil {
			panic(fmt.Sprintf("add event handler to a fresh informer: %v", err)) // cannot happen before Run
		}
		w.factories = append(w.factories, f)
		w.informers[ns] = inf
	}
	return w
}

// rateLimiter retries a failing key with per-key exponential backoff (100ms to 2m)
// under an overall bucket, so a Temporal outage neither spins nor starves
// healthy keys: other keys keep flowing while one backs off.
func rateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 2*time.Minute),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(20), 200)},
	)
}

// Metrics returns the watcher's metrics.
func (w *Watcher) Metrics() *Metrics { return w.metrics }

func (w *Watcher) handlers() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { w.enqueue("add", obj) },
		UpdateFunc: func(old, obj any) {
			typ := "update"
			if o, ok := old.(*unstructured.Unstructured); ok && o.GetResourceVersion() == obj.(*unstructured.Unstructured).GetResourceVersion() {
				typ = "resync"
			}
			w.enqueue(typ, obj)
		},
		DeleteFunc: func(obj any) {
			key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			if err != nil {
				return
			}
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if u, ok := obj.(*unstructured.Unstructured); ok {
				w.syncer.deleted(key, string(u.GetUID()))
			}
			w.enqueue("delete", obj)
		},
	}
}

func (w *Watcher) enqueue(typ string, obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		w.log.Error("cannot key informer object", "err", err)
		return
	}
	w.metrics.EventsSeen.WithLabelValues(typ).Inc()
	if typ != "resync" {
		w.syncer.observe(key, time.Now())
	}
	w.queue.Add(key)
}

// get reads a Ceremony from the informer that covers its namespace.
func (w *Watcher) get(key string) (*unstructured.Unstructured, bool, error) {
	ns, _, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, false, err
	}
	inf := w.informers[metav1.NamespaceAll]
	if inf == nil {
		inf = w.informers[ns]
	}
	if inf == nil {
		return nil, false, nil
	}
	obj, exists, err := inf.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, exists, err
	}
	return obj.(*unstructured.Unstructured), true, nil
}

func (w *Watcher) inScope(ns string) bool {
	return len(w.cfg.Namespaces) == 0 || slices.Contains(w.cfg.Namespaces, ns)
}

// Run watches until ctx ends. With a lease configured it sends only while leading
// and returns ErrLostLeadership if the lease is lost; on shutdown it stops its
// workers before releasing the lease, so the next leader never overlaps with it.
func (w *Watcher) Run(ctx context.Context) error {
	if w.cfg.MetricsAddr != "" {
		stop, err := w.serveMetrics()
		if err != nil {
			return err
		}
		defer stop()
	}
	defer w.queue.ShutDown()
	for _, f := range w.factories {
		f.Start(ctx.Done())
	}
	defer func() {
		for _, f := range w.factories {
			f.Shutdown()
		}
	}()
	for _, f := range w.factories {
		for gvr, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("informer cache for %s never synced: %w", gvr.Resource, context.Cause(ctx))
			}
		}
	}
	w.mu.Lock()
	w.synced = true
	w.mu.Unlock()
	w.log.Info("ceremony informers synced", "namespaces", w.cfg.Namespaces)
	if w.cfg.LeaseName == "" {
		w.lead(ctx)
		return nil
	}
	return w.elect(ctx)
}

// elect runs leader election. The elector gets its own context so that, on
// shutdown, the lease is released only after the workers have stopped.
func (w *Watcher) elect(ctx context.Context) error {
	id := w.cfg.Identity
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: w.cfg.LeaseNamespace, Name: w.cfg.LeaseName},
		Client:     w.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	var term leaderTerm
	elCtx, elCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer elCancel()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, Name: w.cfg.LeaseName, ReleaseOnCancel: true, WatchDog: w.watchdog,
		LeaseDuration: w.cfg.LeaseDuration, RenewDeadline: w.cfg.RenewDeadline, RetryPeriod: w.cfg.RetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { term.run(func() { w.lead(mergeDone(lctx, ctx)) }) },
			OnStoppedLeading: func() { w.log.Info("leader lease no longer held", "identity", id) },
			OnNewLeader:      func(leader string) { w.log.Info("watcher leader", "leader", leader, "self", leader == id) },
		},
	})
	if err != nil {
		return fmt.Errorf("leader election on lease %s/%s: %w", w.cfg.LeaseNamespace, w.cfg.LeaseName, err)
	}
	elDone := make(chan struct{})
	go func() { defer close(elDone); le.Run(elCtx) }()
	select {
	case <-ctx.Done():
		term.wait()
		elCancel()
		<-elDone
		return nil
	case <-elDone:
		term.wait()
		if ctx.Err() != nil {
			return nil
		}
		return ErrLostLeadership
	}
}

// leaderTerm lets elect wait for a leading term's workers, if one began.
type leaderTerm struct {
	mu      sync.Mutex
	started bool
	done    chan struct{}
}

func (t *leaderTerm) run(f func()) {
	t.mu.Lock()
	t.started, t.done = true, make(chan struct{})
	t.mu.Unlock()
	defer close(t.done)
	f()
}

func (t *leaderTerm) wait() {
	t.mu.Lock()
	started, done := t.started, t.done
	t.mu.Unlock()
	if started {
		<-done
	}
}

// mergeDone returns a context cancelled when either a or b is.
func mergeDone(a, b context.Context) context.Context {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	context.AfterFunc(ctx, func() { stop() })
	return ctx
}

// lead runs the workers until ctx ends and waits for in-flight syncs to finish.
func (w *Watcher) lead(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	w.metrics.Leader.Set(1)
	defer w.metrics.Leader.Set(0)
	w.log.Info("leading: syncing ceremonies", "identity", w.cfg.Identity, "workers", w.cfg.Workers)
	if err := w.syncer.sweep(ctx, w.inScope, w.queue.Add); err != nil && ctx.Err() == nil {
		// Not fatal: live events still flow; only cancels for resources deleted
		// while no watcher led would wait for the next leader.
		w.log.Error("orphan sweep failed", "err", err)
	}
	var wg sync.WaitGroup
	for range w.cfg.Workers {
		wg.Go(func() {
			for w.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	w.queue.ShutDown()
	wg.Wait()
}

// processNext syncs one key. Errors requeue the key with backoff; nothing a
// resource contains can make sync fail forever (invalid specs return nil), so the
// queue never wedges.
func (w *Watcher) processNext(ctx context.Context) bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	if ctx.Err() != nil {
		// Leadership ended while this key waited: leave it for the next leader.
		return false
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.SyncTimeout)
	defer cancel()
	err := w.syncer.sync(sctx, key)
	switch {
	case err == nil:
		w.queue.Forget(key)
		w.syncer.synced(key)
	case errors.Is(err, errRequeue):
		w.log.Debug("ceremony requeued", "ceremony", key, "why", err)
		w.queue.AddRateLimited(key)
	default:
		w.metrics.Errors.WithLabelValues("sync").Inc()
		w.log.Error("ceremony sync failed; will retry", "ceremony", key, "err", err, "retries", w.queue.NumRequeues(key))
		w.queue.AddRateLimited(key)
	}
	return true
}

// Handler serves /metrics, /healthz (liveness: fails when this replica leads but
// has stopped renewing its lease) and /readyz (informer caches synced).
func (w *Watcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		if err := w.watchdog.Check(r); err != nil {
			http.Error(rw, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		w.mu.Lock()
		synced := w.synced
		w.mu.Unlock()
		if !synced {
			http.Error(rw, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ok"))
	})
	return mux
}

func (w *Watcher) serveMetrics() (stop func(), err error) {
	srv := &http.Server{Addr: w.cfg.MetricsAddr, Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", w.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", w.cfg.MetricsAddr, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("metrics server stopped", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
