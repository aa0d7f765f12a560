package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
)

// Counter counts what the function publishes to a Pub/Sub emulator during a
// run: it subscribes to every family topic before the run (an emulator
// delivers only messages published after a subscription exists) and pulls
// and acknowledges everything after it.
type Counter struct {
	client *pubsub.Client
	subs   []string
}

// NewCounter creates one subscription per family topic prefix+family of
// project on the emulator at addr (host:port, on loopback).
func NewCounter(ctx context.Context, addr, project, prefix, run string) (*Counter, error) {
	if err := CheckLoopback("http://" + addr); err != nil {
		return nil, err
	}
	client, err := pubsub.NewClient(ctx, project,
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	c := &Counter{client: client}
	for _, f := range events.Families() {
		name := fmt.Sprintf("projects/%s/subscriptions/load-%s-%s", project, run, f)
		topic := fmt.Sprintf("projects/%s/topics/%s", project, events.Topic(prefix, f))
		if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: name, Topic: topic, AckDeadlineSeconds: 600}); err != nil {
			c.Close(ctx)
			return nil, fmt.Errorf("create subscription on %s: %w", topic, err)
		}
		c.subs = append(c.subs, name)
	}
	return c, nil
}

// Count pulls and acknowledges every message the subscriptions hold and
// returns how many there were and how many distinct webhook ids they carry.
// It stops once the subscriptions stayed empty for settle (publishes still
// in flight after the last answer land meanwhile) or ctx ends.
func (c *Counter) Count(ctx context.Context, settle time.Duration) (messages, distinct int, err error) {
	ids := map[string]struct{}{}
	quietSince := time.Now()
	for {
		got := 0
		for _, sub := range c.subs {
			for {
				// An empty pull must return at once (pstest otherwise waits 500ms per
				// subscription); the server still honours the deprecated field.
				//lint:ignore SA1019 no replacement for a non-blocking unary Pull
				resp, err := c.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1000, ReturnImmediately: true})
				if err != nil {
					return messages, len(ids), fmt.Errorf("pull %s: %w", sub, err)
				}
				if len(resp.ReceivedMessages) == 0 {
					break
				}
				acks := make([]string, 0, len(resp.ReceivedMessages))
				for _, m := range resp.ReceivedMessages {
					acks = append(acks, m.AckId)
					ids[m.GetMessage().GetAttributes()["webhook_id"]] = struct{}{}
				}
				if err := c.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: sub, AckIds: acks}); err != nil {
					return messages, len(ids), fmt.Errorf("acknowledge %s: %w", sub, err)
				}
				messages += len(resp.ReceivedMessages)
				got += len(resp.ReceivedMessages)
			}
		}
		if got > 0 {
			quietSince = time.Now()
		} else if time.Since(quietSince) >= settle {
			return messages, len(ids), nil
		}
		select {
		case <-ctx.Done():
			return messages, len(ids), fmt.Errorf("counting published messages: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close deletes the subscriptions and closes the client.
func (c *Counter) Close(ctx context.Context) error {
	var errs []error
	for _, sub := range c.subs {
		if err := c.client.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: sub}); err != nil {
			errs = append(errs, fmt.Errorf("delete subscription %s: %w", sub, err))
		}
	}
	c.subs = nil
	if err := c.client.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close pubsub client: %w", err))
	}
	return errors.Join(errs...)
}
