// Package web holds the static files of the browser build: the ES module
// (lsgm.js), its worker, the <lsgm-sampler> element and the demo site. The
// site tool (wasm/site) assembles them with lsgm.wasm into one folder.
package web

import "embed"

//go:embed *.html *.js *.css *.svg
var Files embed.FS
