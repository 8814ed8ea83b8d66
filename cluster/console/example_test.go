package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/granary-rt/granary/cluster/console"
)

// Mount puts the console in front of an API handler: /ui/ is the console,
// GET / leads to it, and every other path is the API's.
func ExampleMount() {
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the API answers", r.URL.Path)
	})
	srv := httptest.NewServer(console.Mount(apiHandler, console.DefaultConfig()))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
	// Output: /ui/ 200 nosniff
}
