package ceremonyclient

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guildhouse/guildhall/contract"
)

type signals map[string]error // ceremony id -> the answer

func (s signals) Signal(_ context.Context, id, name string, payload any) error {
	if name != contract.SignalDirectoryChanged {
		return errors.New("unexpected signal " + name)
	}
	if _, ok := payload.(contract.DirectoryChanged); !ok {
		return errors.New("unexpected payload")
	}
	return s[id]
}

func TestTellDirectoryChanged(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	msg := DirectoryChange("bob@example.org", true, at, "ada@example.org")
	if again := DirectoryChange("bob@example.org", true, at, "ada@example.org"); again.IdempotencyKey != msg.IdempotencyKey {
		t.Fatal("the same change carries another key")
	}
	if back := DirectoryChange("bob@example.org", false, at, "ada@example.org"); back.IdempotencyKey == msg.IdempotencyKey || back.Deactivated {
		t.Fatalf("reactivation: %+v", back)
	}
	down := errors.New("connection refused")
	s := signals{"web/a": nil, "web/b": down, "web/gone": ErrNotFound, "web/c": nil}
	told, missed, err := TellDirectoryChanged(context.Background(), s, []string{"web/a", "web/b", "web/gone", "web/c"}, msg)
	if !slices.Equal(told, []string{"web/a", "web/c"}) || !slices.Equal(missed, []string{"web/b"}) || !errors.Is(err, down) || !strings.Contains(err.Error(), "web/b") || strings.Contains(err.Error(), "web/gone") {
		t.Fatalf("told %v, err %v", told, err)
	}
	if told, missed, err := TellDirectoryChanged(context.Background(), s, nil, msg); err != nil || len(told) != 0 || len(missed) != 0 {
		t.Fatalf("no ceremonies: %v %v", told, err)
	}
}
