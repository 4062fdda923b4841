// vcsim-export: the govmomi vCenter simulator (the release pinned in go.mod) with what it
// lacks for vm-import: ExportVm with an HttpNfcLease that serves real streamOptimized VMDKs,
// VMware Tools state, slow and Tools-dependent guest shutdown. The inventory comes from a JSON
// file written by the TypeScript launcher (index.ts) from the inventory YAML.
//
// Built by local-cluster/setup.d/10-vcsim.sh into the cache outside the working tree.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/simulator"
)

func main() {
	configPath := flag.String("config", "", "inventory JSON written by the launcher (required)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: ephemeral)")
	certFile := flag.String("tls-cert", "", "PEM server certificate (required)")
	keyFile := flag.String("tls-key", "", "PEM server key (required)")
	username := flag.String("username", "administrator@vsphere.local", "the only accepted user name")
	password := flag.String("password", "", "the only accepted password (required)")
	leaseTimeout := flag.Int("lease-timeout", 300, "seconds without HttpNfcLeaseProgress after which an export lease times out")
	flag.Parse()
	if *configPath == "" || *certFile == "" || *keyFile == "" || *password == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	inv, err := readInventory(*configPath)
	if err != nil {
		log.Fatalf("reading inventory: %v", err)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("loading TLS key pair: %v", err)
	}

	model := simulator.VPX()
	model.Machine = 0 // only the inventory's VMs
	if err := model.Create(); err != nil {
		log.Fatalf("creating model: %v", err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}

	vms := installVMMethods(model.Map())
	leases := newLeaseRegistry(time.Duration(*leaseTimeout) * time.Second)
	model.Service.HandleFunc(nfcExportPrefix, leases.ServeHTTP)
	model.Service.HandleFunc("/_sim/leases", leases.serveState)
	server := model.Service.NewServer()
	leases.baseURL = &url.URL{Scheme: "https", Host: server.URL.Host}
	go leases.watchTimeouts()

	ctx := context.Background()
	client, err := govmomi.NewClient(ctx, server.URL, true)
	if err != nil {
		log.Fatalf("connecting to the simulator: %v", err)
	}
	if err := buildInventory(ctx, client.Client, detached(model.Service.Context), vms, inv, leases); err != nil {
		log.Fatalf("building inventory: %v", err)
	}
	_ = client.Logout(ctx)

	sdk := url.URL{Scheme: "https", Host: server.URL.Host, Path: "/sdk"}
	ready, _ := json.Marshal(map[string]string{"event": "ready", "url": sdk.String(), "datacenter": inv.Datacenter})
	fmt.Println(string(ready))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	server.Close()
	model.Remove()
}
