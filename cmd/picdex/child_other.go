//go:build !linux

package main

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }

func peakRSS(int) (int64, bool) { return 0, false }
