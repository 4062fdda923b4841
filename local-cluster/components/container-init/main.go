// The container init of the local cluster's node agent (local-cluster/runtime/node-agent/sandbox.ts).
//
// runc's init sets a container's credentials after the mounts and before exec; ours does the same
// inside the bubblewrap sandbox. The node agent hands it in as an open file descriptor
// (/proc/self/fd/N), as runc re-executes itself, so it needs nothing from the image: a distroless
// root (Knative's, CoreDNS's) has no setpriv, no libc and no shell.
//
// Usage: init --uid U --gid G [--groups a,b] [--keep-caps CAP_X,CAP_Y] [--no-new-privs]
//
//	[--close-fd N] -- command [args...]
//
// Order as runc's (libcontainer/init_linux.go finalizeNamespace): bounding set (needs
// CAP_SETPCAP, so before the uid change), supplementary groups, gid, uid (a non-root uid loses
// every permitted and effective capability), inheritable and ambient sets cleared, no_new_privs,
// then exec of the command looked up in the container's PATH.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// Linux capability numbers (include/uapi/linux/capability.h).
var capabilityNumbers = map[string]uintptr{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
	"CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

const (
	prCapbsetRead   = 23
	prCapbsetDrop   = 24
	prSetNoNewPrivs = 38
	prCapAmbient    = 47
	prCapAmbientClr = 4
	capV3           = 0x20080522
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "container init: %v\n", err)
		os.Exit(127)
	}
}

func run() error {
	// Capabilities are per thread: every change below, and the exec, happen on this one.
	runtime.LockOSThread()
	uid := flag.Int("uid", -1, "user id")
	gid := flag.Int("gid", -1, "group id")
	groups := flag.String("groups", "", "supplementary group ids, comma-separated")
	keep := flag.String("keep-caps", "", "capabilities kept in the bounding set (a root process keeps them)")
	noNewPrivs := flag.Bool("no-new-privs", false, "set no_new_privs")
	closeFd := flag.Int("close-fd", -1, "a descriptor the command must not inherit (this program's own)")
	flag.Parse()
	argv := flag.Args()
	if *uid < 0 || *gid < 0 || len(argv) == 0 {
		return errors.New("usage: init --uid U --gid G [--groups a,b] [--keep-caps CAP_X] [--no-new-privs] -- command [args...]")
	}

	kept := map[uintptr]bool{}
	for _, name := range strings.Split(*keep, ",") {
		if name == "" {
			continue
		}
		n, ok := capabilityNumbers[name]
		if !ok {
			return fmt.Errorf("unknown capability %q", name)
		}
		kept[n] = true
	}
	for c := uintptr(0); ; c++ {
		// PR_CAPBSET_READ fails (EINVAL) past the kernel's last capability.
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetRead, c, 0); e != 0 {
			break
		}
		if kept[c] {
			continue
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, c, 0); e != 0 {
			return fmt.Errorf("dropping capability %d from the bounding set: %v", c, e)
		}
	}

	var gids []int
	for _, g := range strings.Split(*groups, ",") {
		if g == "" {
			continue
		}
		n, err := strconv.Atoi(g)
		if err != nil {
			return fmt.Errorf("group %q: %v", g, err)
		}
		gids = append(gids, n)
	}
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("setgroups: %v", err)
	}
	if err := syscall.Setresgid(*gid, *gid, *gid); err != nil {
		return fmt.Errorf("setresgid %d: %v", *gid, err)
	}
	if err := syscall.Setresuid(*uid, *uid, *uid); err != nil {
		return fmt.Errorf("setresuid %d: %v", *uid, err)
	}
	if err := clearInheritable(); err != nil {
		return err
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prCapAmbient, prCapAmbientClr, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("clearing ambient capabilities: %v", e)
	}
	if *noNewPrivs {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %v", e)
		}
	}
	if *closeFd >= 0 {
		syscall.CloseOnExec(*closeFd)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%s: %v", argv[0], err)
	}
	return syscall.Exec(path, argv, os.Environ())
}

type capHeader struct {
	version uint32
	pid     int32
}

type capData struct {
	effective, permitted, inheritable uint32
}

func clearInheritable() error {
	h := capHeader{version: capV3}
	var d [2]capData
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		return fmt.Errorf("capget: %v", e)
	}
	d[0].inheritable, d[1].inheritable = 0, 0
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0); e != 0 {
		return fmt.Errorf("capset: %v", e)
	}
	return nil
}
