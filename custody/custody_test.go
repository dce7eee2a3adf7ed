package custody

import (
	"errors"
	"strings"
	"testing"
)

// chain builds n sealed links after a genesis link.
func chain(t testing.TB, n int) []Link {
	t.Helper()
	body, hash, err := Seal(Event{Seq: 0, Type: TypeGenesis, IdempotencyKey: "genesis", OccurredAt: "2026-11-27T10:00:00.000000Z", PrevHash: ZeroHash})
	if err != nil {
		t.Fatal(err)
	}
	links := []Link{{Seq: 0, Type: TypeGenesis, Body: body, PrevHash: ZeroHash, Hash: hash}}
	for i := 1; i <= n; i++ {
		e := sampleEvent(int64(i), links[i-1].Hash)
		body, hash, err := Seal(e)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, Link{Seq: e.Seq, Type: e.Type, Body: body, PrevHash: e.PrevHash, Hash: hash})
	}
	return links
}

func verifyAll(links []Link) error {
	v := NewVerifier()
	for _, l := range links {
		if err := v.Next(l); err != nil {
			return err
		}
	}
	return nil
}

func TestVerifierAcceptsSealedChain(t *testing.T) {
	links := chain(t, 20)
	if err := verifyAll(links); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if err := CheckCanonical(l.Body); err != nil {
			t.Fatalf("Seal wrote a non-canonical body: %v", err)
		}
	}
}

func TestVerifierNamesTheFirstBadLink(t *testing.T) {
	type tamper func(links []Link) []Link
	cases := []struct {
		name    string
		tamper  tamper
		seq     int64
		because string
	}{
		{"payload edited", func(l []Link) []Link {
			l[5].Body = []byte(strings.Replace(string(l[5].Body), "approve", "reject!", 1))
			return l
		}, 5, "stored hash does not match"},
		{"payload edited and rehashed", func(l []Link) []Link {
			l[5].Body = []byte(strings.Replace(string(l[5].Body), "approve", "reject!", 1))
			l[5].Hash = HashBody(l[5].Body)
			return l
		}, 6, "prevHash does not match"},
		{"row deleted", func(l []Link) []Link { return append(l[:7], l[8:]...) }, 7, "missing"},
		{"two rows swapped", func(l []Link) []Link {
			l[3], l[4] = l[4], l[3]
			l[3].Seq, l[4].Seq = 3, 4
			return l
		}, 3, "body says seq 4"},
		{"hash edited", func(l []Link) []Link { l[9].Hash = strings.Repeat("f", 64); return l }, 9, "stored hash does not match"},
		{"forged prev-hash appended", func(l []Link) []Link {
			e := sampleEvent(int64(len(l)), strings.Repeat("1", 64))
			body, hash, _ := Seal(e)
			return append(l, Link{Seq: e.Seq, Type: e.Type, Body: body, PrevHash: e.PrevHash, Hash: hash})
		}, 21, "prevHash does not match"},
		{"type column edited", func(l []Link) []Link { l[2].Type = "ceremony.opened"; return l }, 2, "type column"},
		{"non-canonical body", func(l []Link) []Link {
			l[4].Body = []byte(strings.Replace(string(l[4].Body), `{"actor"`, `{ "actor"`, 1))
			l[4].Hash = HashBody(l[4].Body)
			return l
		}, 4, "canonical"},
		{"genesis replaced", func(l []Link) []Link { return l[1:] }, 0, "missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := verifyAll(c.tamper(chain(t, 20)))
			var b *Break
			if !errors.As(err, &b) {
				t.Fatalf("verify = %v, want a Break", err)
			}
			if b.Seq != c.seq || !strings.Contains(b.Reason, c.because) {
				t.Fatalf("break at seq %d (%s), want seq %d mentioning %q", b.Seq, b.Reason, c.seq, c.because)
			}
		})
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	e := sampleEvent(4, strings.Repeat("a", 64))
	body, _, err := Seal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(body)
	if err != nil || got.Seq != 4 || got.Actor != e.Actor || string(got.Data) == "" {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	if _, err := Decode([]byte(`{"seq":1,"type":"x","prevHash":"p","extra":1}`)); err == nil {
		t.Fatal("Decode accepted an unknown member")
	}
}

func BenchmarkVerifierNext(b *testing.B) {
	links := chain(b, 1000)
	b.SetBytes(int64(len(links[1].Body)))
	b.ResetTimer()
	for i := 0; i < b.N; {
		v := NewVerifier()
		for _, l := range links {
			if err := v.Next(l); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
}

func BenchmarkScanHeader(b *testing.B) {
	links := chain(b, 10)
	b.SetBytes(int64(len(links[1].Body)))
	for b.Loop() {
		if _, err := scanHeader(links[1].Body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashMatches(b *testing.B) {
	links := chain(b, 10)
	b.SetBytes(int64(len(links[1].Body)))
	for b.Loop() {
		if !hashMatches(links[1].Body, links[1].Hash) {
			b.Fatal("hash")
		}
	}
}
