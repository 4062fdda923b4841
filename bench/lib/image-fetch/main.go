// An HTTP(S) download as Go programs make it (io.Copy of the body into a file): the transfer half
// of Harvester's image download (Longhorn's backing-image-manager) and of upstream's source
// downloads (the controller is Go). Prints the bytes received as JSON.
//
//	image-fetch [-cacert file] [-H 'Name: value']... <url> <file>
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	caFile := flag.String("cacert", "", "PEM file of the CA that signed the server's certificate")
	var extra headers
	flag.Var(&extra, "H", "request header 'Name: value' (repeatable)")
	flag.Parse()
	if flag.NArg() != 2 {
		fail("usage: image-fetch [-cacert file] [-H 'Name: value']... <url> <file>")
	}
	url, out := flag.Arg(0), flag.Arg(1)
	client := &http.Client{}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fail("%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fail("no certificate in %s", *caFile)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fail("%v", err)
	}
	for _, h := range extra {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fail("header %q is not 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := client.Do(req)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail("GET %s: HTTP %d", url, resp.StatusCode)
	}
	f, err := os.Create(out)
	if err != nil {
		fail("%v", err)
	}
	n, err := io.CopyBuffer(f, resp.Body, make([]byte, 1<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fail("GET %s: after %d bytes: %v", url, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		fail("GET %s: got %d of %d bytes", url, n, resp.ContentLength)
	}
	fmt.Printf("{\"bytes\":%d}\n", n)
}
