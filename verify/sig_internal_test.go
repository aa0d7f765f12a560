package verify

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// TestDecodeSig checks the specialised decoder against encoding/base64.
func TestDecodeSig(t *testing.T) {
	strict := base64.RawStdEncoding.Strict()
	for range 2000 {
		var raw [sha256.Size]byte
		_, _ = rand.Read(raw[:])
		enc := []byte(base64.RawStdEncoding.EncodeToString(raw[:]))
		// Corrupt one position with one random byte half of the time.
		if raw[0]&1 == 1 {
			enc[int(raw[1])%len(enc)] = raw[2]
		}
		var got [sha256.Size]byte
		ok := decodeSig(&got, string(enc))
		want, err := strict.DecodeString(string(enc))
		wantOK := err == nil && len(want) == sha256.Size
		if ok != wantOK || (ok && string(got[:]) != string(want)) {
			t.Fatalf("decodeSig(%q) = %v %x; base64 says %v %x", enc, ok, got, wantOK, want)
		}
	}
	var d [sha256.Size]byte
	if decodeSig(&d, "short") {
		t.Fatal("decodeSig accepted a short string")
	}
}
