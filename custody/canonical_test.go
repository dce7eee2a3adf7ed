package custody

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
)

// canonicalSamples are bodies and fragments both validators must agree on.
var canonicalSamples = []string{
	`{}`, `[]`, `{"a":1}`, `{"b":1,"a":2}`, `{"a":1,"a":2}`, `{"a":[1,2,{"c":null,"b":true}]}`,
	`{"a": 1}`, ` {"a":1}`, `{"a":1} `, `{"a":1}` + "\n", `{"a":"\u0041"}`, `{"a":"\u001f"}`, `{"a":"\u001F"}`,
	`{"a":"\u000a"}`, `{"a":"\n"}`, `{"a":"\/"}`, `{"a":"/"}`, `{"a":"é"}`, `{"a":"\u00e9"}`, "{\"a\":\"\x7f\"}",
	`{"a":1.0}`, `{"a":1.5}`, `{"a":1e3}`, `{"a":1000}`, `{"a":-0}`, `{"a":0}`, `{"a":01}`, `{"a":1e21}`,
	`{"a":1e+21}`, `{"a":123456789012345678}`, `{"a":9007199254740993}`, `{"a":0.000001}`, `{"a":1e-7}`,
	`{"a":-1}`, `{"a":tru}`, `{"a":true}`, `{"€":1,"a":2}`, `{"a":2,"€":1}`, `{"\ud83d\ude00":1,"\ufb33":2}`,
	`{"😀":1,"שׁ":2}`, `{"שׁ":2,"😀":1}`, `{"a":"x` + "\xff" + `"}`, `{"a":"` + "\xed\xa0\x80" + `"}`, `"x"`, `1`, `{"a":[1,]}`,
	`{"a":{}}`, `{"":1}`, `{"a\"b":1,"a":0}`, `{"a":0,"a\"b":1}`, `{"a\\b":1}`, `{"a":1,}`, `{"a"}`, `{"a":"\t"}`, `{"a":"\u0009"}`,
	`{"a":1E3}`, `{"a":1.25e-5}`, `{"a":0.1}`, `{"a":100000000000000000000}`, `{"a":1e+2}`,
}

func TestCheckCanonicalAgreesWithJCS(t *testing.T) {
	for _, s := range canonicalSamples {
		want := jcsCanonical([]byte(s))
		if got := CheckCanonical([]byte(s)) == nil; got != want {
			t.Errorf("%q: CheckCanonical says canonical=%v, jcs.Transform says %v (%v)", s, got, want, CheckCanonical([]byte(s)))
		}
	}
}

func jcsCanonical(b []byte) bool {
	out, err := jcs.Transform(b)
	return err == nil && bytes.Equal(out, b)
}

func FuzzCheckCanonical(f *testing.F) {
	for _, s := range canonicalSamples {
		f.Add([]byte(s))
	}
	body, _, _ := Seal(sampleEvent(3, strings.Repeat("a", 64)))
	f.Add(body)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Only inputs jcs accepts are meaningful to compare; both must refuse
		// the rest.
		if got, want := CheckCanonical(b) == nil, jcsCanonical(b); got != want {
			t.Fatalf("%q: CheckCanonical canonical=%v, jcs %v", b, got, want)
		}
	})
}

func sampleEvent(seq int64, prev string) Event {
	data, _ := json.Marshal(map[string]any{
		"epoch": 0, "decision": "approve", "comment": "checked the digest \"twice\" ✓\n",
		"statement": `{"artifact":{"digest":"sha256:4f53","name":"guildhall"},"ceremonyId":"demo/x"}`,
		"proof":     map[string]any{"type": "ed25519", "keyId": "ed25519:0123456789abcdef", "signature": strings.Repeat("QUJD", 22)},
		"via":       "cli", "messageKey": "k-1",
	})
	return Event{Seq: seq, Type: TypeSignatureAccepted, CeremonyID: "demo/release-guildhall-v0-1-0", Actor: "alice@guildhouse.dev",
		IdempotencyKey: "signature/demo/release-guildhall-v0-1-0/0/alice@guildhouse.dev", OccurredAt: "2026-11-27T10:00:00.123456Z",
		Data: data, PrevHash: prev}
}

func TestPlain8MatchesPlainByte(t *testing.T) {
	var b [8]byte
	for pos := range 8 {
		for v := range 256 {
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(v)
			want := plainByte[v]
			if got := plain8(binary.LittleEndian.Uint64(b[:])); got != want {
				t.Fatalf("byte %#x at %d: plain8 %v, plainByte %v", v, pos, got, want)
			}
		}
	}
}
