package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// inventory is the vmware section of the inventory file (spec/local-stack.md), with the
// streamOptimized VMDK of every disk added by the launcher.
type inventory struct {
	Datacenter string `json:"datacenter"`
	Networks   []struct {
		Name string `json:"name"`
		Type string `json:"type"` // standard | distributed
	} `json:"networks"`
	Vms []vmSpec `json:"vms"`
}

type vmSpec struct {
	Name            string     `json:"name"`
	Folder          string     `json:"folder"`
	PowerState      string     `json:"powerState"`
	ToolsRunning    bool       `json:"toolsRunning"`
	ShutdownSeconds float64    `json:"shutdownSeconds"`
	GuestId         string     `json:"guestId"`
	Cpus            int32      `json:"cpus"`
	CoresPerSocket  int32      `json:"coresPerSocket"`
	MemoryMiB       int64      `json:"memoryMiB"`
	Firmware        string     `json:"firmware"`
	SecureBoot      bool       `json:"secureBoot"`
	Tpm             bool       `json:"tpm"`
	Disks           []diskSpec `json:"disks"`
	Nics            []nicSpec  `json:"nics"`
}

type diskSpec struct {
	SizeMiB    int64  `json:"sizeMiB"`
	Controller string `json:"controller"`
	VmdkPath   string `json:"vmdkPath"`
}

type nicSpec struct {
	Network string `json:"network"`
	Type    string `json:"type"`
	Mac     string `json:"mac"`
}

func readInventory(path string) (*inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var inv inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		return nil, err
	}
	if inv.Datacenter == "" {
		inv.Datacenter = "DC0"
	}
	return &inv, nil
}

// buildInventory creates the inventory through the SOAP API (client c), then wraps each VM
// through sim, the simulator's own Context.
func buildInventory(ctx context.Context, c *vim25.Client, sim *simulator.Context, vms *vmMethods, inv *inventory, leases *leaseRegistry) error {
	finder := find.NewFinder(c, false)
	dc, err := finder.Datacenter(ctx, "DC0")
	if err != nil {
		return err
	}
	if inv.Datacenter != "DC0" {
		task, err := dc.Rename(ctx, inv.Datacenter)
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("renaming datacenter: %w", err)
		}
		if dc, err = finder.Datacenter(ctx, inv.Datacenter); err != nil {
			return err
		}
	}
	finder.SetDatacenter(dc)

	dvs, err := finder.Network(ctx, "DVS0")
	if err != nil {
		return err
	}
	hosts, err := finder.HostSystemList(ctx, "*/*")
	if err != nil {
		return err
	}
	distributed := map[string]bool{}
	for _, n := range inv.Networks {
		if n.Type == "distributed" {
			distributed[n.Name] = true
			task, err := dvs.(*object.DistributedVirtualSwitch).AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{
				Name: n.Name, Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding), NumPorts: 32,
			}})
			if err != nil {
				return err
			}
			if err := task.Wait(ctx); err != nil {
				return fmt.Errorf("adding distributed portgroup %q: %w", n.Name, err)
			}
			continue
		}
		for _, h := range hosts {
			ns, err := h.ConfigManager().NetworkSystem(ctx)
			if err != nil {
				return err
			}
			err = ns.AddPortGroup(ctx, types.HostPortGroupSpec{Name: n.Name, VswitchName: "vSwitch0", Policy: types.HostNetworkPolicy{}})
			if err != nil && !strings.Contains(err.Error(), "already exists") && !isDuplicateName(err) {
				return fmt.Errorf("adding standard portgroup %q: %w", n.Name, err)
			}
		}
	}

	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	clusters, err := finder.ClusterComputeResourceList(ctx, "*")
	if err != nil {
		return err
	}
	pool, err := clusters[0].ResourcePool(ctx)
	if err != nil {
		return err
	}
	for i := range inv.Vms {
		spec := &inv.Vms[i]
		folder, err := ensureFolder(ctx, folders.VmFolder, spec.Folder)
		if err != nil {
			return err
		}
		config, err := vmConfigSpec(ctx, finder, spec, distributed)
		if err != nil {
			return fmt.Errorf("VM %q: %w", spec.Name, err)
		}
		task, err := folder.CreateVM(ctx, *config, pool, nil)
		if err != nil {
			return err
		}
		res, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return fmt.Errorf("creating VM %q: %w", spec.Name, err)
		}
		ref := res.Result.(types.ManagedObjectReference)
		vm := object.NewVirtualMachine(c, ref)
		if spec.PowerState != "poweredOff" {
			task, err := vm.PowerOn(ctx)
			if err != nil {
				return err
			}
			if err := task.Wait(ctx); err != nil {
				return fmt.Errorf("powering on VM %q: %w", spec.Name, err)
			}
		}
		simVM := sim.Map.Get(ref).(*simulator.VirtualMachine)
		// vcsim copies the guestId into guestFullName; vCenter shows the OS's name there.
		fullName := guestFullName(config.GuestId)
		sim.WithLock(simVM, func() {
			sim.Update(simVM, []types.PropertyChange{
				{Name: "config.guestFullName", Val: fullName},
				{Name: "summary.config.guestFullName", Val: fullName},
			})
		})
		vms.wrap(sim, simVM, spec, leases)
	}
	return nil
}

func isDuplicateName(err error) bool {
	return strings.Contains(err.Error(), "DuplicateName") || strings.Contains(err.Error(), "already")
}

// ensureFolder creates the nested folder path "a/b" below the VM folder and returns the leaf.
func ensureFolder(ctx context.Context, root *object.Folder, path string) (*object.Folder, error) {
	folder := root
	for _, name := range strings.Split(path, "/") {
		if name == "" {
			continue
		}
		children, err := folder.Children(ctx)
		if err != nil {
			return nil, err
		}
		var next *object.Folder
		for _, child := range children {
			if f, ok := child.(*object.Folder); ok {
				n, err := f.ObjectName(ctx)
				if err == nil && n == name {
					next = f
				}
			}
		}
		if next == nil {
			if next, err = folder.CreateFolder(ctx, name); err != nil {
				return nil, fmt.Errorf("creating folder %q: %w", name, err)
			}
		}
		folder = next
	}
	return folder, nil
}
