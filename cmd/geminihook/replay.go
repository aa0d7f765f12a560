package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/geminihook/geminihook/events"
)

func init() {
	addCommand(command{
		name:    "replay",
		summary: "re-run quarantined deliveries through normalization and publish the ones that now parse",
		run:     runReplay,
	})
}

// replayBatch is how many messages one Pull asks for.
const replayBatch = 50

// replayer handles quarantine messages one at a time. It reads with unary
// Pull so that acknowledging and nacking are explicit calls it waits for:
// a message is acknowledged only after its event is published, and every
// message it does not acknowledge is held and nacked (ack deadline 0) when
// the run ends, so none is redelivered to this run and counted twice.
type replayer struct {
	opts   *pubsubOptions
	client *pubsub.Client
	sub    string
	dryRun bool
	out    io.Writer
	// includeUnconfirmed replays deliveries the Gemini API disputed
	// (quarantine_reason=unconfirmed). Without it they are held: their
	// bodies parse, so a plain replay would publish them as ordinary,
	// unconfirmed events, deciding what a person should decide.
	includeUnconfirmed bool

	publishers map[events.Family]*pubsub.Publisher
	held       map[string]string // message id -> latest ack id
	replayed   int
	unparsed   int
	invalid    int
	failed     int
	disputed   int
}

func (r *replayer) publisher(f events.Family) *pubsub.Publisher {
	if p, ok := r.publishers[f]; ok {
		return p
	}
	p := r.client.Publisher(r.opts.topicName(f))
	r.publishers[f] = p
	return p
}

// handle processes one message and reports whether it was acknowledged.
func (r *replayer) handle(ctx context.Context, rm *pubsubpb.ReceivedMessage) error {
	m := rm.GetMessage()
	hold := func() { r.held[m.GetMessageId()] = rm.GetAckId() }
	body, meta, reason, err := events.DecodeQuarantine(events.Message{Data: m.GetData(), Attributes: m.GetAttributes()})
	if err != nil {
		r.invalid++
		hold()
		fmt.Fprintf(r.out, "skip     message %s: not a quarantine message: %v\n", m.GetMessageId(), err)
		return nil
	}
	if reason == events.ReasonUnconfirmed && !r.includeUnconfirmed {
		r.disputed++
		hold()
		fmt.Fprintf(r.out, "held     id=%s quarantined as %s: the Gemini API disputed it; replay it with --include-unconfirmed once checked\n", meta.ID, reason)
		return nil
	}
	e, err := events.Parse(body, meta)
	if err != nil {
		r.unparsed++
		hold()
		why := err.Error()
		if me, ok := errors.AsType[*events.MalformedError](err); ok {
			why = me.Reason
		}
		fmt.Fprintf(r.out, "still    id=%s quarantined as %s, still malformed: %s\n", meta.ID, reason, why)
		return nil
	}
	msg, err := events.NewMessage(e)
	if err != nil {
		r.unparsed++
		hold()
		fmt.Fprintf(r.out, "still    id=%s: cannot build the event message: %v\n", meta.ID, err)
		return nil
	}
	topic := r.opts.topicName(e.Family)
	if r.dryRun {
		r.replayed++
		hold()
		fmt.Fprintf(r.out, "would    id=%s %s %s -> %s\n", e.ID, e.Type, e.Outcome, topic)
		return nil
	}
	if _, err := r.publisher(e.Family).Publish(ctx, &pubsub.Message{Data: msg.Data, Attributes: msg.Attributes}).Get(ctx); err != nil {
		r.failed++
		hold()
		fmt.Fprintf(r.out, "failed   id=%s publish to %s: %v\n", e.ID, topic, err)
		return nil
	}
	// Only after Pub/Sub has the event is the quarantined copy dropped.
	if err := r.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: r.sub, AckIds: []string{rm.GetAckId()}}); err != nil {
		return fmt.Errorf("acknowledge quarantine message of %s (its event was published; a later replay publishes it again): %w", e.ID, err)
	}
	r.replayed++
	fmt.Fprintf(r.out, "replayed id=%s %s %s -> %s\n", e.ID, e.Type, e.Outcome, topic)
	return nil
}

// run pulls until maxN messages were handled (0: no limit) or ctx ends.
func (r *replayer) run(ctx context.Context, maxN int) error {
	seen := 0
	for maxN == 0 || seen < maxN {
		want := replayBatch
		if maxN > 0 {
			want = min(want, maxN-seen)
		}
		resp, err := r.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: r.sub, MaxMessages: int32(want)})
		if ctx.Err() != nil || pastDeadline(ctx) {
			return nil // the run's time is up: not a failure
		}
		if err != nil {
			return fmt.Errorf("pull from %s: %w", r.sub, err)
		}
		for _, rm := range resp.GetReceivedMessages() {
			id := rm.GetMessage().GetMessageId()
			if _, again := r.held[id]; again {
				// Redelivered after its ack deadline: keep the newest ack id.
				r.held[id] = rm.GetAckId()
				continue
			}
			if maxN > 0 && seen >= maxN {
				r.held[id] = rm.GetAckId()
				continue
			}
			seen++
			if err := r.handle(ctx, rm); err != nil {
				return err
			}
		}
	}
	return nil
}

// pastDeadline reports whether ctx's deadline has passed. gRPC enforces a
// call's deadline with its own timer, so a call can fail with
// DeadlineExceeded just before ctx.Err reports it.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Add(50*time.Millisecond).Before(d)
}

// release nacks every held message with a fresh, bounded context and stops
// the publishers.
func (r *replayer) release(stderr io.Writer) {
	for _, p := range r.publishers {
		p.Stop()
	}
	if len(r.held) == 0 {
		return
	}
	ids := make([]string, 0, len(r.held))
	for _, a := range r.held {
		ids = append(ids, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := r.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{Subscription: r.sub, AckIds: ids, AckDeadlineSeconds: 0}); err != nil {
		fmt.Fprintf(stderr, "warning: hand back %d message(s): %v (they return after their ack deadline)\n", len(ids), err)
	}
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stderr)
	var o pubsubOptions
	o.flags(fs)
	subscription := fs.String("subscription", "", "quarantine subscription to read (id or full name); without it a temporary one is made, which sees only messages published from now on")
	dryRun := fs.Bool("dry-run", false, "print what would be replayed; publish and acknowledge nothing")
	maxN := fs.Int("max", 0, "stop after this many messages (0: no limit)")
	timeout := fs.Duration("timeout", 0, "stop after this long (0: until interrupted)")
	includeUnconfirmed := fs.Bool("include-unconfirmed", false, "also replay deliveries the Gemini API disputed (quarantine_reason=unconfirmed), as ordinary events; without it they are held")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "replay", pos); err != nil {
		return err
	}
	if *maxN < 0 || *timeout < 0 {
		fmt.Fprintf(stderr, "--max and --timeout must not be negative\n")
		return errUsage
	}
	if *maxN == 0 && *timeout == 0 {
		fmt.Fprintf(stderr, "note: no --max or --timeout; replaying until interrupted\n")
	}
	c, err := o.client(ctx, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	sub := ""
	if *subscription != "" {
		sub = o.subscriptionName(*subscription)
	} else {
		if sub, err = o.tempSubscription(ctx, c, "replay", events.FamilyQuarantine); err != nil {
			return err
		}
		defer deleteSubscription(c, sub, stderr)
		fmt.Fprintf(stderr, "note: a temporary subscription sees only messages quarantined from now on; keep a standing quarantine subscription (Terraform's subscriptions variable) to replay older ones\n")
	}

	r := &replayer{opts: &o, client: c, sub: sub, dryRun: *dryRun, out: stdout, includeUnconfirmed: *includeUnconfirmed,
		publishers: map[events.Family]*pubsub.Publisher{}, held: map[string]string{}}
	runErr := r.run(ctx, *maxN)
	r.release(stderr)

	verb := "replayed"
	if *dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(stdout, "%s %d; still malformed %d; disputed by the Gemini API %d; not quarantine messages %d; publish failures %d (all left unacknowledged)\n",
		verb, r.replayed, r.unparsed, r.disputed, r.invalid, r.failed)
	if runErr != nil {
		return runErr
	}
	if r.failed > 0 {
		return fmt.Errorf("%d event(s) could not be published; they stay in quarantine", r.failed)
	}
	return nil
}
