package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/geminihook/geminihook/events"
)

func init() {
	addCommand(command{
		name:    "tail",
		summary: "print the events published to the family topics as they arrive (one line each, or --json)",
		run:     runTail,
	})
}

// Temporary subscriptions expire on their own after tempSubscriptionTTL of
// inactivity (Pub/Sub's minimum) if the command dies before deleting them,
// and keep unacknowledged messages for tempSubscriptionRetention (also the
// minimum).
const (
	tempSubscriptionTTL       = 24 * time.Hour
	tempSubscriptionRetention = 10 * time.Minute
	cleanupTimeout            = 15 * time.Second
)

// pubsubOptions are the flags of the commands that read or write topics.
type pubsubOptions struct {
	project string
	prefix  string
	fs      *flag.FlagSet // to tell an explicit --prefix from the default
}

func (o *pubsubOptions) flags(fs *flag.FlagSet) {
	o.fs = fs
	fs.StringVar(&o.project, "project", os.Getenv("GOOGLE_CLOUD_PROJECT"), "project of the topics (default $GOOGLE_CLOUD_PROJECT, else the dev emulator's); PUBSUB_EMULATOR_HOST selects an emulator")
	fs.StringVar(&o.prefix, "prefix", "gemini-", "topic name prefix, as GEMINI_TOPIC_PREFIX")
}

// devEmulator returns the dev state when these options should use the
// Pub/Sub emulator of a running 'geminihook dev': PUBSUB_EMULATOR_HOST is
// unset, the state file names an emulator, and the project is unset or
// the dev one.
func (o *pubsubOptions) devEmulator() (devState, bool) {
	if os.Getenv("PUBSUB_EMULATOR_HOST") != "" {
		return devState{}, false
	}
	st, err := loadDevState()
	if err != nil || st.PubSubEmulatorHost == "" {
		return devState{}, false
	}
	if o.project != "" && st.Project != "" && o.project != st.Project {
		return devState{}, false
	}
	return st, true
}

// client returns a Pub/Sub client; the caller closes it. Without
// PUBSUB_EMULATOR_HOST and with no other project given, it uses the
// emulator a running 'geminihook dev' recorded in its state file, and
// says so on stderr.
func (o *pubsubOptions) client(ctx context.Context, stderr io.Writer) (*pubsub.Client, error) {
	var opts []option.ClientOption
	if st, ok := o.devEmulator(); ok {
		if o.project == "" {
			o.project = st.Project
		}
		explicitPrefix := false
		if o.fs != nil {
			o.fs.Visit(func(f *flag.Flag) { explicitPrefix = explicitPrefix || f.Name == "prefix" })
		}
		if st.Prefix != "" && !explicitPrefix {
			o.prefix = st.Prefix
		}
		path, _ := devStatePath()
		fmt.Fprintf(stderr, "using the Pub/Sub emulator of 'geminihook dev' at %s, project %s (from %s; set PUBSUB_EMULATOR_HOST to choose another)\n", st.PubSubEmulatorHost, o.project, path)
		opts = append(opts,
			option.WithEndpoint(st.PubSubEmulatorHost),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithoutAuthentication(),
			option.WithTelemetryDisabled())
	}
	if o.project == "" {
		return nil, errors.New("no project: pass --project or set GOOGLE_CLOUD_PROJECT (or start 'geminihook dev', whose emulator is then used)")
	}
	c, err := pubsub.NewClient(ctx, o.project, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	return c, nil
}

func (o *pubsubOptions) topicName(f events.Family) string {
	return "projects/" + o.project + "/topics/" + events.Topic(o.prefix, f)
}

// subscriptionName accepts a subscription id or full name.
func (o *pubsubOptions) subscriptionName(s string) string {
	if strings.HasPrefix(s, "projects/") {
		return s
	}
	return "projects/" + o.project + "/subscriptions/" + s
}

// tempSubscription creates a short-lived subscription to topic f, named
// after purpose, and returns its full name. Delete it with
// deleteSubscription; if that never happens it expires after a day.
func (o *pubsubOptions) tempSubscription(ctx context.Context, c *pubsub.Client, purpose string, f events.Family) (string, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := o.subscriptionName(fmt.Sprintf("geminihook-%s-%s-%s", purpose, f, hex.EncodeToString(b)))
	_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:                     name,
		Topic:                    o.topicName(f),
		AckDeadlineSeconds:       30,
		MessageRetentionDuration: durationpb.New(tempSubscriptionRetention),
		ExpirationPolicy:         &pubsubpb.ExpirationPolicy{Ttl: durationpb.New(tempSubscriptionTTL)},
		Labels:                   map[string]string{"created-by": "geminihook", "purpose": purpose},
	})
	if err != nil {
		return "", fmt.Errorf("create subscription to %s: %w", o.topicName(f), err)
	}
	return name, nil
}

// deleteSubscription removes a temporary subscription with a fresh,
// bounded context, since the command's own may already be cancelled.
func deleteSubscription(c *pubsub.Client, name string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := c.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: name}); err != nil {
		fmt.Fprintf(stderr, "warning: delete subscription %s: %v (it expires by itself after a day unused)\n", name, err)
	}
}

// parseFamilies turns --family into the families to read: "all" or a
// comma-separated list.
func parseFamilies(s string) ([]events.Family, error) {
	if s == "" || s == "all" {
		return events.Families(), nil
	}
	var out []events.Family
	for _, p := range strings.Split(s, ",") {
		f := events.Family(strings.TrimSpace(p))
		if !slices.Contains(events.Families(), f) {
			return nil, fmt.Errorf("unknown family %q (want all, or some of batch, interaction, video, other, quarantine)", p)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// eventLine renders a message as one human-readable line: time, family,
// type, outcome, resource, id. Quarantine messages show their reason and
// size, never their body.
func eventLine(m *pubsub.Message) string {
	msg := events.Message{Data: m.Data, Attributes: m.Attributes}
	if m.Attributes[events.AttrEventFamily] == string(events.FamilyQuarantine) {
		_, meta, reason, err := events.DecodeQuarantine(msg)
		if err != nil {
			return fmt.Sprintf("%s  quarantine  undecodable message %s: %v", m.PublishTime.UTC().Format(time.RFC3339), m.ID, err)
		}
		t := meta.ReceivedAt
		if t.IsZero() {
			t = m.PublishTime
		}
		return fmt.Sprintf("%s  %-11s %-28s %-15s %-40s id=%s (%d bytes)", t.UTC().Format(time.RFC3339), events.FamilyQuarantine, "-", reason, "-", meta.ID, len(m.Data))
	}
	e, err := events.Decode(msg)
	if err != nil {
		return fmt.Sprintf("%s  %-11s undecodable message %s: %v", m.PublishTime.UTC().Format(time.RFC3339), m.Attributes[events.AttrEventFamily], m.ID, err)
	}
	t := e.OccurredAt
	if t.IsZero() {
		t = e.ReceivedAt
	}
	resource := e.Resource
	if resource == "" {
		resource = "-"
	}
	return fmt.Sprintf("%s  %-11s %-28s %-15s %-40s id=%s", t.UTC().Format(time.RFC3339), e.Family, e.Type, e.Outcome, resource, e.ID)
}

// eventJSON renders a message as one JSON line: the event JSON as
// published (compacted), or for a quarantine message an object describing
// it, with the body as "payload" (or "payload_base64" when not UTF-8).
func eventJSON(m *pubsub.Message) []byte {
	if m.Attributes[events.AttrEventFamily] != string(events.FamilyQuarantine) {
		var b bytes.Buffer
		if err := json.Compact(&b, m.Data); err == nil {
			return b.Bytes()
		}
		out, _ := json.Marshal(map[string]any{"family": "unknown", "message_id": m.ID, "error": "data is not JSON"})
		return out
	}
	q := map[string]any{
		"family":            events.FamilyQuarantine,
		"id":                m.Attributes[events.AttrWebhookID],
		"quarantine_reason": m.Attributes[events.AttrQuarantineReason],
		"received_at":       m.Attributes[events.AttrReceivedAt],
		"signature_scheme":  m.Attributes[events.AttrSignatureScheme],
	}
	if utf8.Valid(m.Data) {
		q["payload"] = string(m.Data)
	} else {
		q["payload_base64"] = m.Data
	}
	b, _ := json.Marshal(q)
	return b
}

// receiveErr returns the first real failure among the Receive results;
// ending because the command's context ended is not one.
func receiveErr(subs []string, errs []error) error {
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("receive from %s: %w", subs[i], err)
		}
	}
	return nil
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", stderr)
	var o pubsubOptions
	o.flags(fs)
	family := fs.String("family", "all", "family to read: all, or a comma-separated list of batch, interaction, video, other, quarantine")
	subscription := fs.String("subscription", "", "read this existing subscription (id or full name) instead of temporary ones; its messages are acknowledged")
	asJSON := fs.Bool("json", false, "print each event's JSON instead of a line of text")
	maxN := fs.Int("max", 0, "stop after this many messages (0: no limit)")
	timeout := fs.Duration("timeout", 0, "stop after this long (0: until interrupted)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, "tail", pos); err != nil {
		return err
	}
	if *maxN < 0 || *timeout < 0 {
		fmt.Fprintf(stderr, "--max and --timeout must not be negative\n")
		return errUsage
	}
	fams, err := parseFamilies(*family)
	if err != nil {
		return err
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
	var subs []string
	if *subscription != "" {
		subs = []string{o.subscriptionName(*subscription)}
	} else {
		for _, f := range fams {
			name, err := o.tempSubscription(ctx, c, "tail", f)
			if err != nil {
				for _, s := range subs {
					deleteSubscription(c, s, stderr)
				}
				return err
			}
			subs = append(subs, name)
		}
		defer func() {
			for _, s := range subs {
				deleteSubscription(c, s, stderr)
			}
		}()
	}
	fmt.Fprintf(stderr, "tailing %d subscription(s); new messages only\n", len(subs))

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu    sync.Mutex
		count int
		wg    sync.WaitGroup
		errs  = make([]error, len(subs))
	)
	for i, name := range subs {
		wg.Go(func() {
			defer stop() // one subscription failing ends the others
			errs[i] = c.Subscriber(name).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
				mu.Lock()
				defer mu.Unlock()
				if *maxN > 0 && count >= *maxN {
					m.Nack()
					return
				}
				m.Ack()
				count++
				if *asJSON {
					stdout.Write(append(eventJSON(m), '\n'))
				} else {
					fmt.Fprintln(stdout, eventLine(m))
				}
				if *maxN > 0 && count >= *maxN {
					stop()
				}
			})
		})
	}
	wg.Wait()
	return receiveErr(subs, errs)
}
