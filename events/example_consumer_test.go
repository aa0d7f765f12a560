package events_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/events"
)

// consume is an exactly-once consumer of one family topic's subscription
// (created with exactly-once delivery enabled): it decodes each message
// with events.Decode and acknowledges it with AckWithResult, whose result
// says whether Pub/Sub recorded the acknowledgement. Only a successful
// result means the message will not be delivered again; handle must be
// idempotent on e.ID for the rare case where it ran but the ack did not
// stick (the redelivery then carries the same event).
func consume(ctx context.Context, sub *pubsub.Subscriber, handle func(context.Context, events.Event) error) error {
	return sub.Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
		e, err := events.Decode(events.Message{Data: m.Data, Attributes: m.Attributes})
		if err != nil {
			// Not an event of this schema: no retry will change that.
			log.Printf("message %s: %v", m.ID, err)
			m.Ack()
			return
		}
		if err := handle(ctx, e); err != nil {
			m.Nack() // redelivered later
			return
		}
		status, err := m.AckWithResult().Get(ctx)
		if err != nil || status != pubsub.AcknowledgeStatusSuccess {
			// The ack was not recorded: the message comes again and
			// handle sees e.ID a second time.
			log.Printf("event %s: ack not recorded (%v): %v", e.ID, status, err)
		}
	})
}

// A subscriber acknowledging with Pub/Sub's exactly-once API, run against
// an in-process Pub/Sub (pstest) that supports exactly-once subscriptions.
func Example_exactlyOnceConsumer() {
	ctx := context.Background()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	defer srv.Close()
	client, err := pubsub.NewClient(ctx, "my-project", option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	topic := "projects/my-project/topics/" + events.Topic("gemini-", events.FamilyBatch)
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		log.Fatal(err)
	}
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:                      "projects/my-project/subscriptions/batch-worker",
		Topic:                     topic,
		EnableExactlyOnceDelivery: true,
	}); err != nil {
		log.Fatal(err)
	}

	// What the function publishes for a finished batch.
	n := events.Normalize([]byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123","output_file_uri":"gs://b/out.jsonl"}}`),
		events.Meta{ID: "msg_1", ReceivedAt: time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC), Scheme: events.SchemeHMAC})
	pub := client.Publisher(topic)
	id, err := pub.Publish(ctx, &pubsub.Message{Data: n.Message.Data, Attributes: n.Message.Attributes}).Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	pub.Stop()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() { // stop once Pub/Sub has recorded the acknowledgement
		for ctx.Err() == nil && srv.Message(id).Acks == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	err = consume(ctx, client.Subscriber("batch-worker"), func(_ context.Context, e events.Event) error {
		fmt.Println(e.ID, e.Type, e.Outcome, e.OutputURI)
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	fmt.Println("acknowledged:", srv.Message(id).Acks)
	// Output:
	// msg_1 batch.succeeded succeeded gs://b/out.jsonl
	// acknowledged: 1
}
