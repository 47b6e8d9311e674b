package main

import "syscall"

// childAttr has the kernel kill a child when its parent dies, so no
// server outlives a benchmark killed with SIGKILL.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
