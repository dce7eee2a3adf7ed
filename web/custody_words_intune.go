package web

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/guildhouse/guildhall/custody"
)

// intuneSummary says in words what a Graph bridge event recorded; ok is false
// for other types.
func intuneSummary(typ string, d map[string]json.RawMessage, str func(string) string) (string, bool) {
	var changes []struct {
		Text string `json:"text"`
	}
	var calls []json.RawMessage
	_ = json.Unmarshal(d["changes"], &changes)
	_ = json.Unmarshal(d["calls"], &calls)
	decision := str("decision")
	what := "release"
	if decision == "revoked" {
		what = "withdrawal"
	}
	app := str("appName")
	if app == "" {
		app = str("appId")
	}
	if app != "" {
		app = " for app " + app
	}
	callWords := ""
	if len(calls) > 0 {
		callWords = " (" + plural(len(calls), "Graph call", "Graph calls") + ")"
	}
	switch typ {
	case custody.TypeIntuneRequested:
		s := "Intune " + what + " asked for"
		switch c := str("cause"); c {
		case "sealed":
			s += ": the ceremony was sealed"
		case "revoked":
			s += ": the artifact was revoked"
		case "operator":
			s += ": applied again by an operator"
		case "drift-check":
			s += ": the drift check found a revocation not yet carried out"
		case "":
		default:
			s += " (" + c + ")"
		}
		return s, true
	case custody.TypeIntuneApplied:
		if len(changes) == 0 {
			return "Intune already matched the " + what + app + "; nothing changed" + callWords, true
		}
		texts := make([]string, len(changes))
		for i, c := range changes {
			texts[i] = c.Text
		}
		return what + " carried out in Intune" + app + callWords + ": " + strings.Join(texts, "; "), true
	case custody.TypeIntuneFailed:
		s := what + app + " failed in Intune" + callWords
		if retry, _ := jsonBool(d["retryable"]); retry {
			s += ", will be retried"
		} else if _, ok := d["retryable"]; ok {
			s += ", needs a person"
		}
		if e := str("error"); e != "" {
			s += ": " + e
		}
		return s, true
	case custody.TypeIntuneSkipped:
		s := "Intune " + what + " not carried out"
		if r := str("reason"); r != "" {
			s += ": " + r
		}
		return s, true
	case custody.TypeIntuneDrift:
		var drift []struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(d["drift"], &drift)
		switch {
		case str("error") != "":
			return "drift check could not read Intune" + app + ": " + str("error"), true
		case len(drift) == 0:
			return "drift check: Intune matches the " + what + app + " again", true
		}
		texts := make([]string, len(drift))
		for i, c := range drift {
			texts[i] = c.Text
		}
		return fmt.Sprintf("drift check: Intune differs from the %s%s: %s", what, app, strings.Join(texts, "; ")), true
	}
	return "", false
}

// jsonBool reads a JSON boolean.
func jsonBool(raw json.RawMessage) (bool, bool) {
	var b bool
	err := json.Unmarshal(raw, &b)
	return b, err == nil
}
