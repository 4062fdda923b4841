package main

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// Device keys follow the ranges vCenter uses, so DeviceUrl keys and device lists look real.
const (
	scsiControllerKeyBase = 1000
	sataControllerKeyBase = 15000
	nvmeControllerKeyBase = 31000
	ideControllerKeyBase  = 200 // the two IDE controllers every VM already has
	diskKeyBase           = 2000
	nicKeyBase            = 4000
	tpmKey                = 11000
)

// controllerSlots hands out controllers and unit numbers per controller type.
type controllerSlots struct {
	keys     map[string]int32 // controller type -> key of its controller
	nextUnit map[int32]int32
	scsiBus  int32
	changes  []types.BaseVirtualDeviceConfigSpec
}

func (s *controllerSlots) add(device types.BaseVirtualDevice) {
	s.changes = append(s.changes, &types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationAdd,
		Device:    device,
	})
}

func scsiController(key, bus int32) types.VirtualSCSIController {
	return types.VirtualSCSIController{
		VirtualController:  types.VirtualController{VirtualDevice: types.VirtualDevice{Key: key}, BusNumber: bus},
		SharedBus:          types.VirtualSCSISharingNoSharing,
		ScsiCtlrUnitNumber: 7,
	}
}

// slot returns (controller key, unit number) for the next disk on a controller of that type.
func (s *controllerSlots) slot(kind string) (int32, int32, error) {
	key, ok := s.keys[kind]
	if !ok {
		switch kind {
		case "pvscsi", "lsilogic", "lsilogic-sas", "buslogic":
			key = scsiControllerKeyBase + s.scsiBus
			c := scsiController(key, s.scsiBus)
			s.scsiBus++
			switch kind {
			case "pvscsi":
				s.add(&types.ParaVirtualSCSIController{VirtualSCSIController: c})
			case "lsilogic":
				s.add(&types.VirtualLsiLogicController{VirtualSCSIController: c})
			case "lsilogic-sas":
				s.add(&types.VirtualLsiLogicSASController{VirtualSCSIController: c})
			case "buslogic":
				s.add(&types.VirtualBusLogicController{VirtualSCSIController: c})
			}
		case "sata":
			key = sataControllerKeyBase
			s.add(&types.VirtualAHCIController{VirtualSATAController: types.VirtualSATAController{
				VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: key}, BusNumber: 0},
			}})
		case "nvme":
			key = nvmeControllerKeyBase
			s.add(&types.VirtualNVMEController{
				VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: key}, BusNumber: 0},
			})
		case "ide":
			key = ideControllerKeyBase
		default:
			return 0, 0, fmt.Errorf("unknown disk controller %q", kind)
		}
		s.keys[kind] = key
	}
	unit := s.nextUnit[key]
	switch {
	case kind == "ide" && unit > 1 && key == ideControllerKeyBase:
		// first IDE channel full: continue on the second controller
		key, unit = ideControllerKeyBase+1, s.nextUnit[ideControllerKeyBase+1]
		s.keys[kind] = key
	case kind == "ide" && unit > 1:
		return 0, 0, fmt.Errorf("at most 4 IDE disks")
	case unit == 7 && key >= scsiControllerKeyBase && key < scsiControllerKeyBase+4:
		unit++ // SCSI unit 7 is the controller itself
	}
	s.nextUnit[key] = unit + 1
	return key, unit, nil
}

func nicDevice(kind string) (types.BaseVirtualEthernetCard, error) {
	switch kind {
	case "vmxnet":
		return &types.VirtualVmxnet{}, nil
	case "vmxnet2":
		return &types.VirtualVmxnet2{}, nil
	case "vmxnet3":
		return &types.VirtualVmxnet3{}, nil
	case "e1000":
		return &types.VirtualE1000{}, nil
	case "e1000e":
		return &types.VirtualE1000e{}, nil
	case "pcnet32":
		return &types.VirtualPCNet32{}, nil
	}
	return nil, fmt.Errorf("unknown NIC type %q", kind)
}

// guestId: the inventory's guestId, vSphere's otherGuest64 when it has none.
func guestId(id string) string {
	if id == "" {
		return string(types.VirtualMachineGuestOsIdentifierOtherGuest64)
	}
	return id
}

// guestFullName is the name vCenter reports in config.guestFullName for a guestId (from
// vSphere's guest OS descriptors); the id itself for ids this table does not list.
func guestFullName(id string) string {
	names := map[string]string{
		"otherGuest":                 "Other (32-bit)",
		"otherGuest64":               "Other (64-bit)",
		"otherLinuxGuest":            "Other Linux (32-bit)",
		"otherLinux64Guest":          "Other Linux (64-bit)",
		"other5xLinux64Guest":        "Other 5.x or later Linux (64-bit)",
		"ubuntu64Guest":              "Ubuntu Linux (64-bit)",
		"debian11_64Guest":           "Debian GNU/Linux 11 (64-bit)",
		"rhel8_64Guest":              "Red Hat Enterprise Linux 8 (64-bit)",
		"sles15_64Guest":             "SUSE Linux Enterprise 15 (64-bit)",
		"windows9_64Guest":           "Microsoft Windows 10 (64-bit)",
		"windows11_64Guest":          "Microsoft Windows 11 (64-bit)",
		"windows2019srv_64Guest":     "Microsoft Windows Server 2019 (64-bit)",
		"windows2019srvNext_64Guest": "Microsoft Windows Server 2022 (64-bit)",
		"windows9Server64Guest":      "Microsoft Windows Server 2016 (64-bit)",
		"freebsd13_64Guest":          "FreeBSD 13 (64-bit)",
	}
	if name, ok := names[id]; ok {
		return name
	}
	return id
}

func vmConfigSpec(ctx context.Context, finder *find.Finder, spec *vmSpec, distributed map[string]bool) (*types.VirtualMachineConfigSpec, error) {
	firmware := spec.Firmware
	if firmware == "" {
		firmware = "bios"
	}
	secureBoot := spec.SecureBoot
	config := &types.VirtualMachineConfigSpec{
		Name:        spec.Name,
		GuestId:     guestId(spec.GuestId),
		NumCPUs:     spec.Cpus,
		MemoryMB:    spec.MemoryMiB,
		Firmware:    firmware,
		BootOptions: &types.VirtualMachineBootOptions{EfiSecureBootEnabled: &secureBoot},
		Files:       &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
	}
	if spec.CoresPerSocket > 0 {
		config.NumCoresPerSocket = &spec.CoresPerSocket
	}
	slots := &controllerSlots{keys: map[string]int32{}, nextUnit: map[int32]int32{}}
	for i, d := range spec.Disks {
		controllerKey, unit, err := slots.slot(d.Controller)
		if err != nil {
			return nil, err
		}
		u := unit
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{
				Key:           diskKeyBase + int32(i),
				ControllerKey: controllerKey,
				UnitNumber:    &u,
				Backing: &types.VirtualDiskFlatVer2BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: "[LocalDS_0]"},
					DiskMode:                     string(types.VirtualDiskModePersistent),
					ThinProvisioned:              types.NewBool(true),
				},
			},
			CapacityInKB:    d.SizeMiB * 1024,
			CapacityInBytes: d.SizeMiB * 1024 * 1024,
		}
		slots.changes = append(slots.changes, &types.VirtualDeviceConfigSpec{
			Operation:     types.VirtualDeviceConfigSpecOperationAdd,
			FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
			Device:        disk,
		})
	}
	for i, n := range spec.Nics {
		card, err := nicDevice(n.Type)
		if err != nil {
			return nil, err
		}
		net, err := finder.Network(ctx, n.Network)
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", n.Network, err)
		}
		backing, err := net.EthernetCardBackingInfo(ctx)
		if err != nil {
			return nil, err
		}
		if _, isDVPG := net.(*object.DistributedVirtualPortgroup); isDVPG != distributed[n.Network] {
			return nil, fmt.Errorf("network %q is not of the declared type", n.Network)
		}
		c := card.GetVirtualEthernetCard()
		c.Key = nicKeyBase + int32(i)
		c.Backing = backing
		if n.Mac != "" {
			c.AddressType = string(types.VirtualEthernetCardMacTypeManual)
			c.MacAddress = n.Mac
		} else {
			c.AddressType = string(types.VirtualEthernetCardMacTypeGenerated)
		}
		slots.add(card.(types.BaseVirtualDevice))
	}
	if spec.Tpm {
		slots.add(&types.VirtualTPM{VirtualDevice: types.VirtualDevice{Key: tpmKey}})
	}
	config.DeviceChange = slots.changes
	return config, nil
}
