package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// NFC download URLs: https://<simulator>/nfc-export/<lease id>/<targetId>. Like vSphere's NFC
// (and the simulator's own /nfc/ handler) access is by the unguessable lease id.
const nfcExportPrefix = "/nfc-export/"

// How long an export lease stays "initializing" before "ready" (vSphere takes a moment too).
const leaseInitDelay = 200 * time.Millisecond

type leaseRegistry struct {
	mu      sync.Mutex
	leases  map[string]*exportLease
	timeout time.Duration
	baseURL *url.URL
}

func newLeaseRegistry(timeout time.Duration) *leaseRegistry {
	return &leaseRegistry{leases: map[string]*exportLease{}, timeout: timeout}
}

// exportLease is an HttpNfcLease (vSphere API) for ExportVm. The embedded mo type comes first so
// the simulator's PropertyCollector serves its properties (state, info, error, transferProgress).
type exportLease struct {
	mo.HttpNfcLease
	registry     *leaseRegistry
	creator      *simulator.Context // the ExportVm call's; see background()
	files        map[string]string  // targetId -> VMDK file
	lastProgress time.Time
	timedOut     bool
	vmName       string
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// background returns a Context of its own for the lease's timers and NFC transfers.
func (l *exportLease) background() *simulator.Context { return detached(l.creator) }

func (r *leaseRegistry) create(ctx *simulator.Context, vm *exportVM) types.ManagedObjectReference {
	lease := &exportLease{registry: r, creator: ctx, files: map[string]string{}, vmName: vm.Name}
	lease.Self = types.ManagedObjectReference{Type: "HttpNfcLease", Value: "session[" + randomID() + "]" + randomID()}
	lease.State = types.HttpNfcLeaseStateInitializing
	lease.InitializeProgress = 0
	ctx.Map.Put(lease)
	r.mu.Lock()
	r.leases[lease.Self.Value] = lease
	r.mu.Unlock()

	info := r.leaseInfo(vm, lease)
	log.Printf("lease %s created for %s", lease.Self.Value, vm.Name)
	time.AfterFunc(leaseInitDelay, func() {
		later := lease.background()
		later.WithLock(lease, func() {
			if lease.State != types.HttpNfcLeaseStateInitializing {
				return // aborted meanwhile
			}
			lease.lastProgress = time.Now()
			later.Update(lease, []types.PropertyChange{
				{Name: "info", Val: info},
				{Name: "initializeProgress", Val: int32(100)},
				{Name: "state", Val: types.HttpNfcLeaseStateReady},
			})
		})
	})
	return lease.Self
}

// leaseInfo lists one device URL per virtual disk, keyed like vSphere:
// /<vm moref>/<controller type><bus>:<unit>.
func (r *leaseRegistry) leaseInfo(vm *exportVM, lease *exportLease) *types.HttpNfcLeaseInfo {
	devices := vm.Config.Hardware.Device
	controllers := map[int32]types.BaseVirtualDevice{}
	for _, d := range devices {
		if _, ok := d.(types.BaseVirtualController); ok {
			controllers[d.GetVirtualDevice().Key] = d
		}
	}
	info := &types.HttpNfcLeaseInfo{
		Lease:        lease.Self,
		Entity:       vm.Self,
		LeaseTimeout: int32(r.timeout / time.Second),
	}
	for _, d := range devices {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		index := int(disk.Key - diskKeyBase)
		if index < 0 || index >= len(vm.spec.Disks) {
			continue
		}
		controller := controllers[disk.ControllerKey]
		kind := reflect.TypeOf(controller).Elem().Name()
		bus := controller.(types.BaseVirtualController).GetVirtualController().BusNumber
		unit := int32(0)
		if disk.UnitNumber != nil {
			unit = *disk.UnitNumber
		}
		target := fmt.Sprintf("disk-%d.vmdk", index)
		file := vm.spec.Disks[index].VmdkPath
		lease.files[target] = file
		var size int64
		if st, err := os.Stat(file); err == nil {
			size = st.Size()
		}
		u := *r.baseURL
		u.Path = nfcExportPrefix + lease.Self.Value + "/" + target
		info.DeviceUrl = append(info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
			Key:       fmt.Sprintf("/%s/%s%d:%d", vm.Self.Value, kind, bus, unit),
			ImportKey: fmt.Sprintf("/%s/%s%d:%d", vm.Name, kind, bus, unit),
			Url:       u.String(),
			TargetId:  target,
			Disk:      types.NewBool(true),
			FileSize:  size,
		})
		info.TotalDiskCapacityInKB += disk.CapacityInKB
	}
	return info
}

// serveState lists every export lease with its VM and state, for the chaos runner's leftover
// check: a lease still initializing or ready holds its VM's disks, as vSphere's does, until it
// completes, is aborted or times out.
func (r *leaseRegistry) serveState(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	leases := make([]*exportLease, 0, len(r.leases))
	for _, l := range r.leases {
		leases = append(leases, l)
	}
	r.mu.Unlock()
	type leaseState struct {
		Lease string `json:"lease"`
		VM    string `json:"vm"`
		State string `json:"state"`
	}
	out := []leaseState{}
	for _, l := range leases {
		l.background().WithLock(l, func() {
			out = append(out, leaseState{Lease: l.Self.Value, VM: l.vmName, State: string(l.State)})
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"leases": out})
}

func (r *leaseRegistry) get(id string) *exportLease {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leases[id]
}

// watchTimeouts fails ready leases that got no HttpNfcLeaseProgress for the timeout.
func (r *leaseRegistry) watchTimeouts() {
	for range time.Tick(250 * time.Millisecond) {
		r.mu.Lock()
		leases := make([]*exportLease, 0, len(r.leases))
		for _, l := range r.leases {
			leases = append(leases, l)
		}
		r.mu.Unlock()
		for _, l := range leases {
			later := l.background()
			later.WithLock(l, func() {
				if l.State == types.HttpNfcLeaseStateReady && time.Since(l.lastProgress) > r.timeout {
					log.Printf("lease %s timed out", l.Self.Value)
					l.timedOut = true
					l.fail(later, &types.Timedout{}, "Operation timed out.")
				}
			})
		}
	}
}

func (l *exportLease) fail(ctx *simulator.Context, fault types.BaseMethodFault, msg string) {
	ctx.Update(l, []types.PropertyChange{
		{Name: "error", Val: &types.LocalizedMethodFault{Fault: fault, LocalizedMessage: msg}},
		{Name: "state", Val: types.HttpNfcLeaseStateError},
	})
}

// notReadyFault is what vSphere answers when a lease method is called on a lease that is no
// longer (or not yet) ready: Timedout after a timeout, InvalidState otherwise.
func (l *exportLease) notReadyFault() *soap.Fault {
	if l.timedOut {
		return simulator.Fault("Operation timed out.", &types.Timedout{})
	}
	return simulator.Fault(fmt.Sprintf("The lease is in state %s.", l.State), &types.InvalidState{})
}

func (l *exportLease) HttpNfcLeaseProgress(ctx *simulator.Context, req *types.HttpNfcLeaseProgress) soap.HasFault {
	body := &methods.HttpNfcLeaseProgressBody{}
	if l.State != types.HttpNfcLeaseStateReady {
		body.Fault_ = l.notReadyFault()
		return body
	}
	if req.Percent < 0 || req.Percent > 100 {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "percent"})
		return body
	}
	l.lastProgress = time.Now()
	ctx.Update(l, []types.PropertyChange{{Name: "transferProgress", Val: req.Percent}})
	body.Res = new(types.HttpNfcLeaseProgressResponse)
	return body
}

func (l *exportLease) HttpNfcLeaseComplete(ctx *simulator.Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	body := &methods.HttpNfcLeaseCompleteBody{}
	if l.State != types.HttpNfcLeaseStateReady {
		body.Fault_ = l.notReadyFault()
		return body
	}
	ctx.Update(l, []types.PropertyChange{
		{Name: "transferProgress", Val: int32(100)},
		{Name: "state", Val: types.HttpNfcLeaseStateDone},
	})
	body.Res = new(types.HttpNfcLeaseCompleteResponse)
	return body
}

func (l *exportLease) HttpNfcLeaseAbort(ctx *simulator.Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	body := &methods.HttpNfcLeaseAbortBody{}
	if l.State != types.HttpNfcLeaseStateReady && l.State != types.HttpNfcLeaseStateInitializing {
		body.Fault_ = l.notReadyFault()
		return body
	}
	var fault types.BaseMethodFault = &types.RequestCanceled{}
	msg := "The task was canceled by a user."
	if req.Fault != nil && req.Fault.Fault != nil {
		fault, msg = req.Fault.Fault, req.Fault.LocalizedMessage
	}
	l.fail(ctx, fault, msg)
	log.Printf("lease %s aborted", l.Self.Value)
	body.Res = new(types.HttpNfcLeaseAbortResponse)
	return body
}

func (l *exportLease) ready() bool {
	ready := false
	l.background().WithLock(l, func() { ready = l.State == types.HttpNfcLeaseStateReady })
	return ready
}

// ServeHTTP serves GET of a lease's disk. The transfer is cut when the lease stops being ready
// (aborted, completed or timed out), like an NFC server tearing down the lease.
func (r *leaseRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, nfcExportPrefix), "/")
	if len(parts) != 2 {
		http.NotFound(w, req)
		return
	}
	lease := r.get(parts[0])
	if lease == nil {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !lease.ready() {
		http.Error(w, "lease is not ready", http.StatusForbidden)
		return
	}
	file, ok := lease.files[parts[1]]
	if !ok {
		http.NotFound(w, req)
		return
	}
	f, err := openDirect(file, 256*1024)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.WriteHeader(http.StatusOK)
	var sent int64
	for {
		chunk, err := f.Read()
		if n := len(chunk); n > 0 {
			if !lease.ready() {
				log.Printf("nfc GET %s: lease left ready state after %d bytes, closing", parts[1], sent)
				panic(http.ErrAbortHandler)
			}
			if _, werr := w.Write(chunk); werr != nil {
				log.Printf("nfc GET %s: client went away after %d bytes", parts[1], sent)
				return
			}
			sent += int64(n)
		}
		if err == io.EOF {
			log.Printf("nfc GET %s: sent %d bytes", parts[1], sent)
			return
		}
		if err != nil {
			panic(http.ErrAbortHandler)
		}
	}
}
