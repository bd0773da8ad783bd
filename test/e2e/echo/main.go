// Command echo is the end-to-end tests' workload: `echo serve ADDR` answers
// every HTTP request with the pod's hostname; `echo get URL N` makes N
// requests and prints one answer a line. It is static, so its image needs
// nothing but the binary (busybox wget crashes in pods on these hosts).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: echo serve ADDR | echo get URL [N]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		host, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, host) })
		fmt.Fprintln(os.Stderr, http.ListenAndServe(os.Args[2], nil))
		os.Exit(1)
	case "get":
		n := 1
		if len(os.Args) > 3 {
			n, _ = strconv.Atoi(os.Args[3])
		}
		// A new connection per request, so the Service balances each one.
		c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		failed := 0
		for i := 0; i < n; i++ {
			resp, err := c.Get(os.Args[2])
			if err != nil {
				fmt.Println("error:", err)
				failed++
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Print(string(b))
		}
		if failed == n {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
