//go:build !linux

package main

import (
	"os"
	"syscall"
)

func childAttr() *syscall.SysProcAttr { return nil }

func peakRSS(*os.ProcessState) (int64, bool) { return 0, false }
