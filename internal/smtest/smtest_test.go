package smtest_test

import (
	"context"
	"errors"
	"hash/crc32"
	"strconv"
	"sync"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihook/geminihook/internal/smtest"
)

const secretName = "projects/p/secrets/s"

func start(t *testing.T) (*smtest.Server, *secretmanager.Client) {
	t.Helper()
	srv, err := smtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, err := srv.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("error = %v, want code %v", err, code)
	}
}

func TestCreateAddAccessThroughRealClient(t *testing.T) {
	srv, c := start(t)
	ctx := ctxT(t)
	sec, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{
		Parent:   "projects/p",
		SecretId: "s",
		Secret: &secretmanagerpb.Secret{Replication: &secretmanagerpb.Replication{
			Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Name != secretName {
		t.Fatalf("name = %q", sec.Name)
	}
	_, err = c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: "projects/p", SecretId: "s", Secret: sec})
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: "projects/p", SecretId: "nrep", Secret: &secretmanagerpb.Secret{}})
	wantCode(t, err, codes.InvalidArgument)
	got, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: secretName})
	if err != nil || got.Name != secretName {
		t.Fatalf("GetSecret = %v, %v", got, err)
	}
	_, err = c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: "projects/p/secrets/missing"})
	wantCode(t, err, codes.NotFound)

	for i, data := range []string{"one", "two", "three"} {
		crc := int64(crc32.Checksum([]byte(data), crc32.MakeTable(crc32.Castagnoli)))
		v, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
			Parent:  secretName,
			Payload: &secretmanagerpb.SecretPayload{Data: []byte(data), DataCrc32C: &crc},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := secretName + "/versions/" + strconv.Itoa(i+1); v.Name != want || v.State != secretmanagerpb.SecretVersion_ENABLED || !v.ClientSpecifiedPayloadChecksum {
			t.Fatalf("version = %v, want %s ENABLED with checksum flag", v, want)
		}
	}
	bad := int64(12345)
	_, err = c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
		Parent: secretName, Payload: &secretmanagerpb.SecretPayload{Data: []byte("x"), DataCrc32C: &bad},
	})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
		Parent: secretName, Payload: &secretmanagerpb.SecretPayload{Data: make([]byte, smtest.MaxPayloadBytes+1)},
	})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{
		Parent: "projects/p/secrets/missing", Payload: &secretmanagerpb.SecretPayload{Data: []byte("x")},
	})
	wantCode(t, err, codes.NotFound)
	if n := len(srv.Versions(secretName)); n != 3 {
		t.Fatalf("rejected adds created versions: %d", n)
	}

	resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: secretName + "/versions/2"})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Payload.Data) != "two" || resp.Name != secretName+"/versions/2" {
		t.Fatalf("access = %q %q", resp.Name, resp.Payload.Data)
	}
	if resp.Payload.DataCrc32C == nil || *resp.Payload.DataCrc32C != int64(crc32.Checksum([]byte("two"), crc32.MakeTable(crc32.Castagnoli))) {
		t.Fatalf("crc = %v", resp.Payload.DataCrc32C)
	}
	if string(srv.Payload(secretName+"/versions/1")) != "one" {
		t.Fatal("Payload snapshot wrong")
	}
}

func TestLatestAndStates(t *testing.T) {
	srv, c := start(t)
	ctx := ctxT(t)
	v1 := srv.AddVersion(secretName, []byte("a"))
	v2 := srv.AddVersion(secretName, []byte("b"))

	access := func(name string) (string, error) {
		r, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
		if err != nil {
			return "", err
		}
		return r.Name + "=" + string(r.Payload.Data), nil
	}
	if got, err := access(secretName + "/versions/latest"); err != nil || got != v2+"=b" {
		t.Fatalf("latest = %q, %v", got, err)
	}
	gv, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: secretName + "/versions/latest"})
	if err != nil || gv.Name != v2 {
		t.Fatalf("GetSecretVersion latest = %v, %v", gv, err)
	}

	d, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v2})
	if err != nil || d.State != secretmanagerpb.SecretVersion_DISABLED {
		t.Fatalf("disable = %v, %v", d, err)
	}
	_, err = access(v2)
	wantCode(t, err, codes.FailedPrecondition)
	// latest is the most recently created version, whatever its state.
	_, err = access(secretName + "/versions/latest")
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v2}); err != nil {
		t.Fatal(err)
	}
	if got, err := access(v2); err != nil || got != v2+"=b" {
		t.Fatalf("re-enabled access = %q, %v", got, err)
	}

	ds, err := c.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: v1})
	if err != nil || ds.State != secretmanagerpb.SecretVersion_DESTROYED || ds.DestroyTime == nil {
		t.Fatalf("destroy = %v, %v", ds, err)
	}
	_, err = access(v1)
	wantCode(t, err, codes.FailedPrecondition)
	_, err = c.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: v1})
	wantCode(t, err, codes.FailedPrecondition)
	if srv.Payload(v1) != nil {
		t.Fatal("destroyed payload kept")
	}
	_, err = c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v2, Etag: `"stale"`})
	wantCode(t, err, codes.FailedPrecondition)

	_, err = access(secretName + "/versions/9")
	wantCode(t, err, codes.NotFound)
	_, err = access("projects/p/secrets/none/versions/latest")
	wantCode(t, err, codes.NotFound)
	_, err = access("not-a-name")
	wantCode(t, err, codes.InvalidArgument)

	if err := srv.SetState(v2, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	vs := srv.Versions(secretName)
	if len(vs) != 2 || vs[0].State != secretmanagerpb.SecretVersion_DESTROYED || vs[1].State != secretmanagerpb.SecretVersion_DISABLED {
		t.Fatalf("Versions = %v", vs)
	}
	if err := srv.SetState(secretName+"/versions/7", secretmanagerpb.SecretVersion_ENABLED); err == nil {
		t.Fatal("SetState on a missing version succeeded")
	}
}

func listNames(t *testing.T, c *secretmanager.Client, filter string, pageSize int32) []string {
	t.Helper()
	it := c.ListSecretVersions(ctxT(t), &secretmanagerpb.ListSecretVersionsRequest{Parent: secretName, Filter: filter, PageSize: pageSize})
	var out []string
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("list %q: %v", filter, err)
		}
		out = append(out, v.Name[len(secretName+"/versions/"):])
	}
}

func TestListFilterAndPaging(t *testing.T) {
	srv, c := start(t)
	for i := 1; i <= 7; i++ {
		srv.AddVersion(secretName, []byte{byte(i)})
	}
	for _, n := range []string{"2", "5"} {
		if err := srv.SetState(secretName+"/versions/"+n, secretmanagerpb.SecretVersion_DISABLED); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.SetState(secretName+"/versions/6", secretmanagerpb.SecretVersion_DESTROYED); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		filter string
		want   string
	}{
		{"", "7654321"},
		{"state:ENABLED", "7431"},
		{"state:DISABLED", "52"},
		{"state=DESTROYED", "6"},
		{"state:(ENABLED OR DISABLED)", "754321"},
		{"NOT state:DESTROYED", "754321"},
		{"-state:ENABLED", "652"},
	}
	for _, tt := range tests {
		for _, ps := range []int32{0, 1, 2, 3, 100} {
			got := ""
			for _, n := range listNames(t, c, tt.filter, ps) {
				got += n
			}
			if got != tt.want {
				t.Errorf("filter %q page size %d: got %s, want %s", tt.filter, ps, got, tt.want)
			}
		}
	}
	// Pages obey page_size and a version added between pages is not repeated.
	ctx := ctxT(t)
	raw, err := smtestList(ctx, c, "state:ENABLED", 3, "")
	if err != nil || len(raw.Versions) != 3 || raw.NextPageToken == "" || raw.TotalSize != 4 {
		t.Fatalf("first page = %v, %v", raw, err)
	}
	srv.AddVersion(secretName, []byte("new"))
	raw2, err := smtestList(ctx, c, "state:ENABLED", 3, raw.NextPageToken)
	if err != nil || len(raw2.Versions) != 1 || raw2.Versions[0].Name != secretName+"/versions/1" || raw2.NextPageToken != "" {
		t.Fatalf("second page = %v, %v", raw2, err)
	}
	_, err = smtestList(ctx, c, "state:DISABLED", 3, raw.NextPageToken)
	wantCode(t, err, codes.InvalidArgument)
	_, err = smtestList(ctx, c, "state:SHINY", 0, "")
	wantCode(t, err, codes.InvalidArgument)
	_, err = smtestList(ctx, c, "create_time>2020", 0, "")
	wantCode(t, err, codes.InvalidArgument)
}

// smtestList fetches one raw page through the real client's iterator.
func smtestList(ctx context.Context, c *secretmanager.Client, filter string, size int, token string) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	it := c.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: secretName, Filter: filter})
	_, next, err := it.InternalFetch(size, token)
	if err != nil {
		return nil, err
	}
	resp, _ := it.Response.(*secretmanagerpb.ListSecretVersionsResponse)
	if resp == nil {
		return nil, errors.New("no response recorded")
	}
	if resp.NextPageToken != next {
		return nil, errors.New("token mismatch")
	}
	return resp, nil
}

func TestFaultsDelaysCallsAndCorruptCRC(t *testing.T) {
	srv, c := start(t)
	v := srv.AddVersion(secretName, []byte("k"))
	ctx := ctxT(t)

	srv.Fail("AccessSecretVersion", status.Error(codes.PermissionDenied, "denied"))
	_, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v})
	wantCode(t, err, codes.PermissionDenied)
	if _, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: v}); err != nil {
		t.Fatalf("other method affected: %v", err)
	}
	srv.Fail("", status.Error(codes.Internal, "boom"))
	_, err = c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: v})
	wantCode(t, err, codes.Internal)
	srv.Recover()

	srv.Delay("GetSecretVersion", time.Minute)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = c.GetSecretVersion(short, &secretmanagerpb.GetSecretVersionRequest{Name: v})
	cancel()
	wantCode(t, err, codes.DeadlineExceeded)
	srv.Recover()

	srv.CorruptCRC32C(true)
	r, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v})
	if err != nil {
		t.Fatal(err)
	}
	if *r.Payload.DataCrc32C == int64(crc32.Checksum(r.Payload.Data, crc32.MakeTable(crc32.Castagnoli))) {
		t.Fatal("CorruptCRC32C returned a matching checksum")
	}
	srv.Recover()
	if got := srv.Calls("AccessSecretVersion"); got != 2 {
		t.Fatalf("AccessSecretVersion calls = %d, want 2", got)
	}
	if got := srv.Calls("GetSecretVersion"); got != 3 {
		t.Fatalf("GetSecretVersion calls = %d, want 3", got)
	}
	if got := srv.Calls(""); got != 5 {
		t.Fatalf("all calls = %d, want 5", got)
	}
}

func TestConcurrentAddsNumberUniquely(t *testing.T) {
	srv, c := start(t)
	if err := srv.CreateSecret(secretName); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	const n = 20
	var wg sync.WaitGroup
	names := make(chan string, n)
	for range n {
		wg.Go(func() {
			v, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: secretName, Payload: &secretmanagerpb.SecretPayload{Data: []byte("x")}})
			if err != nil {
				t.Error(err)
				return
			}
			names <- v.Name
		})
	}
	wg.Wait()
	close(names)
	seen := map[string]bool{}
	for nm := range names {
		if seen[nm] {
			t.Fatalf("duplicate version %s", nm)
		}
		seen[nm] = true
	}
	if len(seen) != n || len(srv.Versions(secretName)) != n {
		t.Fatalf("got %d versions", len(seen))
	}
}

func TestProjectNumberInNames(t *testing.T) {
	srv, c := start(t)
	srv.SetProjectNumber("p", "123456")
	ctx := ctxT(t)
	v := srv.AddVersion(secretName, []byte("k"))
	if v != "projects/123456/secrets/s/versions/1" {
		t.Fatalf("version name %q", v)
	}
	r, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: secretName + "/versions/latest"})
	if err != nil || r.Name != v {
		t.Fatalf("access by project id = %v, %v", r, err)
	}
	nv, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: "projects/123456/secrets/s", Payload: &secretmanagerpb.SecretPayload{Data: []byte("l")}})
	if err != nil || nv.Name != "projects/123456/secrets/s/versions/2" {
		t.Fatalf("add by number = %v, %v", nv, err)
	}
	sec, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: secretName})
	if err != nil || sec.Name != "projects/123456/secrets/s" {
		t.Fatalf("GetSecret = %v, %v", sec, err)
	}
	if got := listNames(t, c, "", 0); len(got) != 2 {
		t.Fatalf("list by id: %v", got)
	}
	if len(srv.Versions(secretName)) != 2 || string(srv.Payload(secretName+"/versions/2")) != "l" {
		t.Fatal("snapshot helpers do not accept the project id")
	}
}

// TestConnectionsCountsClients: each real client that calls opens one
// connection; one client's later calls reuse it.
func TestConnectionsCountsClients(t *testing.T) {
	srv, c := start(t)
	ctx := ctxT(t)
	// No check before the first call: the client may connect as soon as
	// it is built (in the background) or on its first call.
	for range 3 {
		_, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: "projects/p/secrets/missing"})
		wantCode(t, err, codes.NotFound)
	}
	if n := srv.Connections(); n != 1 {
		t.Fatalf("%d connections after one client's calls, want 1", n)
	}
	c2, err := srv.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, err = c2.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: "projects/p/secrets/missing"})
	wantCode(t, err, codes.NotFound)
	if n := srv.Connections(); n != 2 {
		t.Fatalf("%d connections after a second client's call, want 2", n)
	}
}
