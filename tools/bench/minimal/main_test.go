package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihook/geminihook/verify"
)

// The minimal pipeline is only a fair limit if it is correct: it must
// refuse what geminihook refuses on the HMAC path and publish exactly what
// it answers 200 for. Deliveries are signed by the project's own signer and
// published to a real pstest server through the real client.
func TestMinimalVerifiesAndPublishes(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	t.Cleanup(func() { srv.Close() })
	if _, err := srv.GServer.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/p/topics/t"}); err != nil {
		t.Fatal(err)
	}
	client, err := pubsub.NewClient(context.Background(), "p", option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	key, err := parseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	p := &pipeline{key: key, pub: newPublisher(client, "t"), now: func() time.Time { return now }}
	t.Cleanup(p.pub.Stop)
	missing := &pipeline{key: key, pub: newPublisher(client, "absent"), now: p.now}
	t.Cleanup(missing.pub.Stop)
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	hsMissing := httptest.NewServer(missing)
	t.Cleanup(hsMissing.Close)

	good := verify.MustParseSecret(secret)
	other := verify.MustParseSecret("whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	body := []byte(`{"type":"batch.succeeded"}`)
	big := bytes.Repeat([]byte("x"), maxBodyBytes+1)
	signed := func(s verify.Secret, id string, at time.Time) http.Header {
		return verify.SignHeaders(s, id, at, body)
	}
	for _, tc := range []struct {
		name   string
		url    string
		header http.Header
		body   []byte
		status int
	}{
		{"valid", hs.URL, signed(good, "msg_ok", now), body, http.StatusOK},
		{"second valid entry among several", hs.URL, func() http.Header {
			h := signed(good, "msg_ok2", now)
			h.Set(verify.HeaderSignature, verify.Sign(other, "msg_ok2", now, body)+" "+h.Get(verify.HeaderSignature))
			return h
		}(), body, http.StatusOK},
		{"wrong key", hs.URL, signed(other, "msg_bad", now), body, http.StatusUnauthorized},
		{"body changed", hs.URL, signed(good, "msg_bad", now), []byte(`{"type":"batch.failed"}`), http.StatusUnauthorized},
		{"too old", hs.URL, signed(good, "msg_old", now.Add(-6*time.Minute)), body, http.StatusUnauthorized},
		{"too new", hs.URL, signed(good, "msg_new", now.Add(6*time.Minute)), body, http.StatusUnauthorized},
		{"no signature", hs.URL, func() http.Header {
			h := signed(good, "msg_nosig", now)
			h.Del(verify.HeaderSignature)
			return h
		}(), body, http.StatusBadRequest},
		{"body too large", hs.URL, func() http.Header {
			return verify.SignHeaders(good, "msg_big", now, big)
		}(), big, http.StatusRequestEntityTooLarge},
		{"publish refused", hsMissing.URL, signed(good, "msg_unpublished", now), body, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, tc.url, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tc.header
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("answered %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("pstest holds %d messages, want the 2 answered 200", len(msgs))
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.Attributes["webhook_id"]] = true
		if len(m.Attributes) != 1 || !bytes.Equal(m.Data, body) || m.Topic != "projects/p/topics/t" {
			t.Errorf("message: topic %s, attributes %v, data %q", m.Topic, m.Attributes, m.Data)
		}
	}
	if !ids["msg_ok"] || !ids["msg_ok2"] {
		t.Errorf("published ids %v, want msg_ok and msg_ok2", ids)
	}
}

func TestParseSecretRefusesJunk(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_!!!"} {
		if _, err := parseSecret(s); err == nil {
			t.Errorf("parseSecret(%q) accepted", s)
		}
	}
}
