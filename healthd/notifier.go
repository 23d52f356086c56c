package healthd

import (
	"context"
	"log/slog"
	"sync"

	"github.com/xlb/xlb/internal/notify"
)

// Mailer sends an alert; *notify.Mailer implements it.
type Mailer interface {
	Send(ctx context.Context, subject, body string) error
}

// job is one notification: a script to run, or a mail when cmd is nil.
type job struct {
	what    string // "notify_up", "quorum_down", "mail", … for logs
	service string
	real    string // empty for quorum jobs
	cmd     *notify.Command
	subject string
	body    string
}

// notifier runs scripts and sends mail off the scheduling path, a bounded
// number at a time, in the order the transitions happened.
type notifier struct {
	// immutable after newNotifier
	logger  *slog.Logger
	mailer  Mailer
	workers int
	signal  chan struct{}

	mu    sync.Mutex // guards queue
	queue []job
}

func newNotifier(logger *slog.Logger, mailer Mailer, workers int) *notifier {
	return &notifier{logger: logger, mailer: mailer, workers: workers, signal: make(chan struct{}, 1)}
}

func (n *notifier) enqueue(jobs []job) {
	if len(jobs) == 0 {
		return
	}
	n.mu.Lock()
	n.queue = append(n.queue, jobs...)
	n.mu.Unlock()
	n.poke()
}

func (n *notifier) poke() {
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

func (n *notifier) take() (job, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		return job{}, false
	}
	j := n.queue[0]
	n.queue[0] = job{}
	n.queue = n.queue[1:]
	if len(n.queue) > 0 {
		n.poke()
	}
	return j, true
}

// run works the queue until ctx ends; scripts still running then are killed
// with their process groups and jobs still queued are dropped.
func (n *notifier) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range n.workers {
		wg.Go(func() {
			for {
				if j, ok := n.take(); ok {
					n.do(ctx, j)
					continue
				}
				select {
				case <-ctx.Done():
					return
				case <-n.signal:
				}
			}
		})
	}
	wg.Wait()
	n.mu.Lock()
	dropped := len(n.queue)
	n.queue = nil
	n.mu.Unlock()
	if dropped > 0 {
		n.logger.Warn("notifications dropped at shutdown", "count", dropped)
	}
}

// runAll runs jobs at once, a bounded number at a time, and waits for them.
func (n *notifier) runAll(ctx context.Context, jobs []job) {
	sem := make(chan struct{}, n.workers)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n.do(ctx, j)
		})
	}
	wg.Wait()
}

func (n *notifier) do(ctx context.Context, j job) {
	log := n.logger.With("service", j.service)
	if j.real != "" {
		log = log.With("real", j.real)
	}
	if j.cmd == nil {
		if n.mailer == nil {
			return
		}
		if err := n.mailer.Send(ctx, j.subject, j.body); err != nil {
			log.Warn("alert mail failed", "subject", j.subject, "err", err)
		}
		return
	}
	if err := j.cmd.RunChecked(ctx); err != nil {
		log.Warn("notify script failed", "script", j.what, "command", j.cmd.String(), "err", err)
		return
	}
	log.Debug("notify script ran", "script", j.what, "command", j.cmd.String())
}
