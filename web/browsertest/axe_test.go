package browsertest

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/guildhouse/guildhall/internal/toolcache"
)

// axe-core runs in the page for the accessibility checks. The version and the
// SHA-256 of axe.min.js are pinned in axe-core.pin (read by the Makefile too);
// `make axe` fetches it once from the npm registry into the tool cache
// (toolcache.Root, ~/.cache/guildhall by default).
//
//go:embed axe-core.pin
var axePin string

// axeSource returns axe.min.js, checked against the pin. A missing or
// different file is an error that says how to fetch it: the accessibility
// checks never skip.
func axeSource() (string, error) {
	f := strings.Fields(axePin)
	if len(f) != 2 {
		return "", fmt.Errorf("axe-core.pin: want \"<version> <sha256 of axe.min.js>\", got %q", axePin)
	}
	version, sum := f[0], f[1]
	p := os.Getenv("AXE_JS")
	if p == "" {
		cache, err := toolcache.Root()
		if err != nil {
			return "", err
		}
		p = filepath.Join(cache, "axe-core-"+version, "axe.min.js")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("axe-core %s is not at %s (%v): fetch it with `make axe` (npm pack axe-core@%s from the npm registry)", version, p, err, version)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
		return "", fmt.Errorf("%s is not axe-core %s as pinned (sha256 %x, want %s): remove it and run `make axe`", p, version, got, sum)
	}
	return string(b), nil
}

// axeRun runs axe on the page and returns the serious and critical
// violations, one line each.
const axeRun = `(async () => {
	const r = await axe.run(document, {resultTypes: ["violations"]});
	return r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
		v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.length + " element(s): " +
		v.nodes.slice(0, 3).map(n => n.target.join(" ") + (n.failureSummary ? " (" + n.failureSummary.replace(/\s+/g, " ").slice(0, 160) + ")" : "")).join("; "));
})()`
