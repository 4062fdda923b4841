// The node agent's container init: takes a container's user, groups, capabilities and
// no_new_privs, then execs its command. Static, so it runs in any image's root, distroless too.
module vm-import.local/components/container-init

go 1.26.0

tool vm-import.local/components/container-init
