package secrets

import (
	"context"
	"testing"
)

// BenchmarkCachedRead measures the path every delivery takes once a value
// is held: Keyring.Secrets and Value.Get answering from the cache, from
// parallel callers. Compare the two, and against an earlier commit, as
// ratios.
func BenchmarkCachedRead(b *testing.B) {
	f := newFixture(b, 2)
	f.addValue("key-1")
	ctx := context.Background()
	b.Run("Keyring.Secrets", func(b *testing.B) {
		k := f.keyring(b, secret, Options{})
		if _, err := k.Secrets(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := k.Secrets(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Value.Get", func(b *testing.B) {
		v := f.value(b, apiKey, Options{})
		if _, err := v.Get(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Get(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
