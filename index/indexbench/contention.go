package indexbench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// cpuSample is a reading of the machine's and this process's CPU time in
// clock ticks, from Linux's /proc. Latency targets are absolute, so a
// report must say when other processes shared the CPUs; the ratios to a
// baseline measured in the same run suffer far less from that.
type cpuSample struct {
	busy, steal, total, self uint64
	ok                       bool
}

func sampleCPU() cpuSample {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	s := cpuSample{ok: true}
	s.busy = v[0] + v[1] + v[2] + v[5] + v[6]
	s.steal = v[7]
	s.total = s.busy + v[3] + v[4] + v[7]
	// The command name in field 2 may hold spaces; utime and stime are
	// fields 14 and 15, counted after its closing parenthesis.
	if i := strings.LastIndexByte(string(self), ')'); i >= 0 {
		rest := strings.Fields(string(self)[i+1:])
		if len(rest) >= 13 {
			ut, _ := strconv.ParseUint(rest[11], 10, 64)
			st, _ := strconv.ParseUint(rest[12], 10, 64)
			s.self = ut + st
		}
	}
	return s
}

// otherCPUs is how many CPUs other processes kept busy on average between
// two samples; ok is false where /proc is not there.
func otherCPUs(a, b cpuSample) (float64, bool) {
	if !a.ok || !b.ok || b.total <= a.total {
		return 0, false
	}
	others := max(0, float64(b.busy-a.busy)-float64(b.self-a.self))
	return others / float64(b.total-a.total) * float64(runtime.NumCPU()), true
}

// contention describes the CPU time between two samples, in CPUs busy on
// average.
func contention(a, b cpuSample) string {
	others, ok := otherCPUs(a, b)
	if !ok {
		return ""
	}
	n := float64(runtime.NumCPU())
	span := float64(b.total - a.total)
	return fmt.Sprintf("other processes kept %.2f of %d CPUs busy, hypervisor steal %.2f, this process %.2f",
		others, runtime.NumCPU(), float64(b.steal-a.steal)/span*n, float64(b.self-a.self)/span*n)
}
