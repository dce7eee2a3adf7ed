package store

import "testing"

func TestWithSimpleProtocol(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h/db":                                        "postgres://u@h/db?default_query_exec_mode=simple_protocol",
		"postgres://u@h/db?sslmode=disable":                        "postgres://u@h/db?sslmode=disable&default_query_exec_mode=simple_protocol",
		"postgres://u@h/db?default_query_exec_mode=cache_describe": "postgres://u@h/db?default_query_exec_mode=cache_describe",
	} {
		if got := withSimpleProtocol(in); got != want {
			t.Errorf("withSimpleProtocol(%q) = %q, want %q", in, got, want)
		}
	}
}
