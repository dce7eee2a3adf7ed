package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded static file served under a content-hashed name, so it
// can be cached forever and a new build never serves a stale copy.
type asset struct {
	body  []byte
	ctype string
}

var (
	assetNames = map[string]string{} // "app.css" -> "app.1a2b3c4d5e.css"
	assetFiles = map[string]asset{}  // hashed name -> file
)

func init() {
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := path.Base(p)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		assetNames[name] = hashed
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "application/octet-stream"
		}
		assetFiles[hashed] = asset{body: b, ctype: ct}
		return nil
	})
}

// assetURL returns the hashed URL of a static file.
func assetURL(name string) string {
	if h, ok := assetNames[name]; ok {
		return "/static/" + h
	}
	return "/static/" + name
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	f, ok := assetFiles[chi.URLParam(r, "file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(f.body)
}

// serveFavicon answers the browser's automatic /favicon.ico request (pages
// link the SVG icon; this is for everything that asks the old way).
func serveFavicon(w http.ResponseWriter, r *http.Request) {
	f, ok := assetFiles[assetNames["favicon.ico"]]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(f.body)
}
