package main

import (
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// exportVM wraps the simulator's VirtualMachine (same moref in simulator.Map) and overrides or
// adds the methods 0.24.2 lacks or gets wrong for us:
//   - ShutdownGuest: needs VMware Tools (fault ToolsUnavailable), takes shutdownSeconds
//   - ExportVm: not implemented by 0.24.2; returns an HttpNfcLease (lease.go)
//   - guest.toolsRunningStatus follows the inventory's toolsRunning and the power state
type exportVM struct {
	*simulator.VirtualMachine
	spec     *vmSpec
	leases   *leaseRegistry
	shutdown *time.Timer
}

func newExportVM(vm *simulator.VirtualMachine, spec *vmSpec, leases *leaseRegistry) *exportVM {
	if spec.Tpm {
		present := true
		vm.Summary.Config.TpmPresent = &present
	}
	return &exportVM{VirtualMachine: vm, spec: spec, leases: leases}
}

// Get lets the simulator's PropertyCollector read the wrapped VM's properties.
func (vm *exportVM) Get() mo.Reference { return vm.VirtualMachine }

// syncTools sets the Tools state from the power state: Tools run only in a powered-on guest.
func (vm *exportVM) syncTools() {
	status := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
	tools := types.VirtualMachineToolsStatusToolsNotRunning
	if vm.spec.ToolsRunning && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
		status = types.VirtualMachineToolsRunningStatusGuestToolsRunning
		tools = types.VirtualMachineToolsStatusToolsOk
	}
	simulator.Map.Update(vm.VirtualMachine, []types.PropertyChange{
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
	simulator.Map.Update(vm.VirtualMachine, []types.PropertyChange{{Name: "guest.guestState", Val: "shuttingDown"}})
	delay := time.Duration(vm.spec.ShutdownSeconds * float64(time.Second))
	vm.shutdown = time.AfterFunc(delay, func() {
		simulator.Map.WithLock(vm, func() {
			vm.shutdown = nil
			if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
				return
			}
			vm.VirtualMachine.ShutdownGuest(ctx, req) // the simulator's instant power-off + events
			simulator.Map.Update(vm.VirtualMachine, []types.PropertyChange{{Name: "guest.guestState", Val: "notRunning"}})
			vm.syncTools()
		})
	})
	return body
}

func (vm *exportVM) PowerOffVMTask(ctx *simulator.Context, req *types.PowerOffVM_Task) soap.HasFault {
	vm.cancelShutdown()
	res := vm.VirtualMachine.PowerOffVMTask(ctx, req) // runs the task synchronously
	simulator.Map.Update(vm.VirtualMachine, []types.PropertyChange{{Name: "guest.guestState", Val: "notRunning"}})
	vm.syncTools()
	return res
}

func (vm *exportVM) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	res := vm.VirtualMachine.PowerOnVMTask(ctx, req)
	simulator.Map.Update(vm.VirtualMachine, []types.PropertyChange{{Name: "guest.guestState", Val: "running"}})
	vm.syncTools()
	return res
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
	lease := vm.leases.create(vm)
	body.Res = &types.ExportVmResponse{Returnval: lease}
	return body
}
