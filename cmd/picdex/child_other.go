//go:build !linux

package main

import (
	"syscall"
	"time"
)

func childAttr() *syscall.SysProcAttr { return nil }

func peakRSS(int) (int64, bool) { return 0, false }

func cpuTime(int) (time.Duration, bool) { return 0, false }
