package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/granary-rt/granary/cluster/httpapi"
)

// A loopback API without tokens behind GuardBrowsers: the CLI's submit
// passes, a web page's cross-site POST and a request through a rebound DNS
// name do not.
func ExampleGuardBrowsers() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	h := httpapi.GuardBrowsers(api, true)
	try := func(host string, headers ...string) int {
		r := httptest.NewRequest(http.MethodPost, "http://"+host+"/v1/tasks", strings.NewReader(`{"kind":"echo"}`))
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	fmt.Println("cli:", try("127.0.0.1:8080"))
	fmt.Println("cross-site page:", try("127.0.0.1:8080", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"))
	fmt.Println("rebound name:", try("rebind.evil.example:8080"))
	// Output:
	// cli: 201
	// cross-site page: 403
	// rebound name: 403
}
