package api

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"
)

// The web UI is plain files: one page, a script and a style sheet, with no
// build step and nothing fetched from other origins.
//
//go:embed ui
var uiFiles embed.FS

//go:embed openapi.json
var openAPI []byte

// contentSecurityPolicy lets the UI run only its own script and style,
// and show images from anywhere.
const contentSecurityPolicy = "default-src 'self'; img-src * data:; style-src 'self'; script-src 'self'"

func (s *server) routeUI(r *gin.Engine) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	page, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/ui/", http.FileServer(http.FS(sub)))
	r.GET("/", func(c *gin.Context) {
		c.Header("Content-Security-Policy", contentSecurityPolicy)
		c.Data(http.StatusOK, "text/html; charset=utf-8", page)
	})
	r.GET("/ui/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Header("Content-Security-Policy", contentSecurityPolicy) // /ui/ is the page too
		files.ServeHTTP(c.Writer, c.Request)
	})
}
