package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Proc names a set of processes (a server and its children) whose CPU time the
// bench reports per phase, to show where time goes outside this process.
type Proc struct {
	Name string
	Find func() ([]int, error)
}

// clockTick is USER_HZ, 100 on every Linux the bench runs on.
const clockTick = 100

// cpuOf returns the user+system CPU time of the processes so far, counting for
// the first one also its exited (waited-for) children.
func cpuOf(pids []int) time.Duration {
	var ticks int64
	for n, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command name; utime and stime are
		// fields 14 and 15 of the whole line.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
		if n == 0 {
			cu, _ := strconv.ParseInt(f[13], 10, 64)
			cs, _ := strconv.ParseInt(f[14], 10, 64)
			ticks += cu + cs
		}
	}
	return time.Duration(ticks) * time.Second / clockTick
}

// selfCPU is this process's CPU time.
func selfCPU() time.Duration { return cpuOf([]int{os.Getpid()}) }

// childrenOf lists pid and its direct children.
func childrenOf(pid int) []int {
	out := []int{pid}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// temporalProc is the Temporal server's name in the CPU breakdown.
const temporalProc = "temporal"

func (s *Stack) temporalPIDs() ([]int, error) {
	if pid := s.Server.PID(); pid > 0 {
		return []int{pid}, nil
	}
	return nil, errNoProc
}

func (s *Stack) postgresPIDs() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(s.PG.Dir, "data", "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return nil, err
	}
	return childrenOf(pid), nil
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return f[0]
}

// RSS returns a process's resident set size in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errNoProc
}

// Scrape reads metrics from a Prometheus text endpoint, summed over labels:
// the named ones, or all when no name is given.
func Scrape(url string, names ...string) (map[string]float64, error) {
	return ScrapeBy(url, nil, names...)
}
