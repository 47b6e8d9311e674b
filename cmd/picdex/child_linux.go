package main

import (
	"os"
	"syscall"
)

// childAttr has the kernel kill a child when its parent dies, so no
// server outlives a benchmark killed with SIGKILL.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// peakRSS is the most memory a finished child held, from the kernel.
func peakRSS(ps *os.ProcessState) (int64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, false
	}
	return ru.Maxrss * 1024, true // kilobytes on Linux
}
