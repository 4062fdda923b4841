package main

import (
	"context"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// exportVM wraps one of the simulator's VirtualMachines and overrides or adds the methods the
// simulator lacks or gets wrong for us:
//   - ShutdownGuest: needs VMware Tools (fault ToolsUnavailable), takes shutdownSeconds
//   - PowerOffVM_Task: also cancels a guest shutdown in progress
//   - ExportVm: not implemented by govmomi's simulator; returns an HttpNfcLease (lease.go)
//
// Its other methods are the simulator's own (promoted). vmMethods routes SOAP calls to it and
// keeps the guest state following the power state.
type exportVM struct {
	*simulator.VirtualMachine
	spec     *vmSpec
	leases   *leaseRegistry
	shutdown *time.Timer
}

// Get lets the simulator's PropertyCollector read the wrapped VM's properties.
func (vm *exportVM) Get() mo.Reference { return vm.VirtualMachine }

// vmMethods holds the inventory's exportVMs.
//
// The registry (simulator.Map) keeps the simulator's own *simulator.VirtualMachine, as the
// simulator's code type-asserts registry objects to it. A SOAP call dispatches to the object the
// caller's session registry holds first (simulator.Service.call, Session.Get), so the registry's
// Handler hook, which runs before that lookup, puts the wrapper into the session's registry.
//
// It is also a simulator.RegisterObject: the simulator only keeps guest.toolsRunningStatus in
// step with the power state for container-backed VMs, so it follows every power state change of
// the inventory's VMs, whichever method or task made it.
type vmMethods struct {
	mu  sync.Mutex
	vms map[types.ManagedObjectReference]*exportVM
}

func installVMMethods(registry *simulator.Registry) *vmMethods {
	m := &vmMethods{vms: map[types.ManagedObjectReference]*exportVM{}}
	registry.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
		vm := m.get(method.This)
		if vm == nil {
			return nil, nil
		}
		if ctx.Session != nil && ctx.Session.Registry.Get(method.This) == nil {
			ctx.Session.Registry.Put(vm)
		}
		return vm, nil
	}
	registry.AddHandler(m)
	return m
}

func (m *vmMethods) get(ref types.ManagedObjectReference) *exportVM {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vms[ref]
}

// wrap makes the simulator's VM an exportVM and sets its guest state.
func (m *vmMethods) wrap(ctx *simulator.Context, vm *simulator.VirtualMachine, spec *vmSpec, leases *leaseRegistry) {
	wrapped := &exportVM{VirtualMachine: vm, spec: spec, leases: leases}
	m.mu.Lock()
	m.vms[vm.Self] = wrapped
	m.mu.Unlock()
	ctx.WithLock(vm, func() {
		if spec.Tpm {
			ctx.Update(vm, []types.PropertyChange{{Name: "summary.config.tpmPresent", Val: true}})
		}
		wrapped.syncGuest(ctx)
	})
}

// Reference names vmMethods among the registry's handlers.
func (m *vmMethods) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VmImportGuestState", Value: "vm-import-guest-state"}
}

// UpdateObject (simulator.RegisterObject) runs for every property change in the registry, by the
// Context that made it and holds the object's lock.
func (m *vmMethods) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	vm := m.get(obj.Reference())
	if vm == nil {
		return
	}
	for _, c := range changes {
		if c.Name == "runtime.powerState" {
			vm.syncGuest(ctx)
			return
		}
	}
}

func (m *vmMethods) PutObject(*simulator.Context, mo.Reference)                    {}
func (m *vmMethods) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

// detached returns a Context for work done later on the simulator's own initiative (timers). The
// simulator's object locks are re-entrant per *Context, so a goroutine must not share the
// Context of a request that may still hold a lock.
func detached(ctx *simulator.Context) *simulator.Context {
	c := *ctx
	c.Context = context.Background()
	return &c
}

// syncGuest sets the guest state from the power state: Tools run only in a powered-on guest.
// Callers hold the VM's lock.
func (vm *exportVM) syncGuest(ctx *simulator.Context) {
	on := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	guestState := "notRunning"
	if on {
		guestState = "running"
	}
	status := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
	tools := types.VirtualMachineToolsStatusToolsNotRunning
	if vm.spec.ToolsRunning && on {
		status = types.VirtualMachineToolsRunningStatusGuestToolsRunning
		tools = types.VirtualMachineToolsStatusToolsOk
	}
	ctx.Update(vm.VirtualMachine, []types.PropertyChange{
		{Name: "guest.guestState", Val: guestState},
		{Name: "guest.toolsRunningStatus", Val: string(status)},
		{Name: "guest.toolsStatus", Val: tools},
		{Name: "summary.guest.toolsRunningStatus", Val: string(status)},
		{Name: "summary.guest.toolsStatus", Val: tools},
	})
}

func (vm *exportVM) cancelShutdown() {
	if vm.shutdown != nil {
		vm.shutdown.Stop()
		vm.shutdown = nil
	}
}

func (vm *exportVM) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) soap.HasFault {
	body := &methods.ShutdownGuestBody{}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		body.Fault_ = simulator.Fault("", &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOn,
			ExistingState:  vm.Runtime.PowerState,
		})
		return body
	}
	if vm.Guest.ToolsRunningStatus != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		body.Fault_ = simulator.Fault("Cannot complete operation because VMware Tools is not running in this virtual machine.",
			&types.ToolsUnavailable{})
		return body
	}
	body.Res = new(types.ShutdownGuestResponse)
	if vm.shutdown != nil {
		return body // a shutdown is already in progress
	}
	ctx.Update(vm.VirtualMachine, []types.PropertyChange{{Name: "guest.guestState", Val: "shuttingDown"}})
	delay := time.Duration(vm.spec.ShutdownSeconds * float64(time.Second))
	later := detached(ctx)
	vm.shutdown = time.AfterFunc(delay, func() {
		later.WithLock(vm.VirtualMachine, func() {
			vm.shutdown = nil
			if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				return
			}
			// The simulator's own ShutdownGuest: power-off task and events; UpdateObject
			// then sets the guest state.
			vm.VirtualMachine.ShutdownGuest(later, req)
		})
	})
	return body
}

func (vm *exportVM) PowerOffVMTask(ctx *simulator.Context, req *types.PowerOffVM_Task) soap.HasFault {
	vm.cancelShutdown()
	return vm.VirtualMachine.PowerOffVMTask(ctx, req)
}

// ExportVm (vSphere API: VirtualMachine.ExportVm) returns an HttpNfcLease for downloading the
// VM's disks. Like vSphere it refuses a VM that is not powered off.
func (vm *exportVM) ExportVm(ctx *simulator.Context, req *types.ExportVm) soap.HasFault {
	body := &methods.ExportVmBody{}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		body.Fault_ = simulator.Fault("The attempted operation cannot be performed in the current state (Powered on).",
			&types.InvalidPowerState{
				RequestedState: types.VirtualMachinePowerStatePoweredOff,
				ExistingState:  vm.Runtime.PowerState,
			})
		return body
	}
	lease := vm.leases.create(ctx, vm)
	body.Res = &types.ExportVmResponse{Returnval: lease}
	return body
}
