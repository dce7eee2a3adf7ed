package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/store"
	"github.com/guildhouse/guildhall/store/storetest"
)

// BenchmarkAccessCheck is the cost of checking a session or token against its
// Ops DB row (issue 17): the row read each request adds (rowCheck), next to
// the directory lookup every request made already (witnessLookup), and the
// whole bearer middleware as the signing path runs it (bearer).
//
//	go test ./web -run '^$' -bench AccessCheck -benchtime 2000x
func BenchmarkAccessCheck(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"postgres", storetest.Postgres}, {"sqlite", storetest.SQLite}} {
		b.Run(db.name, func(b *testing.B) {
			st := db.open(b)
			seedWitnesses(b, st)
			secret := []byte(strings.Repeat("s", 32))
			app, err := New(Config{BaseURL: "http://localhost:4000", SessionSecret: secret},
				Deps{Store: st, Ceremonies: newFake(st), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			tok, err := IssueToken(ctx, st, secret, "bob@example.org", time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			t, _ := app.parseToken(tok)
			b.Run("rowCheck", func(b *testing.B) {
				for b.Loop() {
					if _, res := app.checkAccess(ctx, store.KindToken, t.ID, t.WitnessID); res != accessOK {
						b.Fatal(res)
					}
				}
			})
			b.Run("witnessLookup", func(b *testing.B) {
				for b.Loop() {
					if _, err := st.GetWitness(ctx, t.WitnessID); err != nil {
						b.Fatal(err)
					}
				}
			})
			h := app.bearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			b.Run("bearer", func(b *testing.B) {
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, "/api/v1/ceremonies", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatal(rec.Code)
					}
				}
			})
		})
	}
}
