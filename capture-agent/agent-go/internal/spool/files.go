package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockedError: a live process holds the spool's LOCK.
type LockedError struct {
	Dir string
	Pid int
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("spool %s is locked by live process %d", e.Dir, e.Pid)
}

// FullError: the cap holds and the policy is reject (retriable; nothing was kept).
type FullError struct{ Msg string }

func (e *FullError) Error() string { return e.Msg }

func readText(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func bootID() string {
	t, _ := readText("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(t)
}

// processStart is field 22 of /proc/<pid>/stat (start time in clock ticks after boot).
func processStart(pid int) string {
	stat, ok := readText(fmt.Sprintf("/proc/%d/stat", pid))
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return ""
	}
	fields := strings.Split(stat[i+2:], " ")
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

type lockOwner struct {
	pid         int
	boot, start string
}

func formatLock(o lockOwner) string {
	var extra []string
	if o.boot != "" {
		extra = append(extra, "boot="+o.boot)
	}
	if o.start != "" {
		extra = append(extra, "start="+o.start)
	}
	s := strconv.Itoa(o.pid) + "\n"
	if len(extra) > 0 {
		s += strings.Join(extra, " ") + "\n"
	}
	return s
}

func parseLock(text string) (lockOwner, bool) {
	lines := strings.Split(text, "\n")
	first := strings.TrimSpace(lines[0])
	pid, err := strconv.Atoi(first)
	if err != nil || pid <= 0 {
		return lockOwner{}, false
	}
	o := lockOwner{pid: pid}
	for _, kv := range strings.Fields(strings.Join(lines[1:], " ")) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		switch k {
		case "boot":
			o.boot = v
		case "start":
			o.start = v
		}
	}
	return o, true
}

// ownerAlive: the same judgement as lockOwnerAlive in spoolFiles.ts. Our own pid in a LOCK we do
// not hold is stale (an agent that is PID 1 of its container, SIGKILLed and restarted).
func ownerAlive(o lockOwner) bool {
	if o.pid == os.Getpid() {
		return false // this process takes a spool's lock once, in Open
	}
	if b := bootID(); o.boot != "" && b != "" && o.boot != b {
		return false
	}
	if !pidAlive(o.pid) {
		return false
	}
	if o.start == "" {
		return true
	}
	s := processStart(o.pid)
	return s == "" || s == o.start
}

func fsyncDir(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = f.Sync()
	_ = f.Close()
}

// acquireLock takes <dir>/LOCK for this process; a stale one is taken over (its pid returned).
func acquireLock(dir string) (tookOver bool, previous int, err error) {
	file := filepath.Join(dir, "LOCK")
	for attempt := 0; attempt < 3; attempt++ {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.WriteString(formatLock(lockOwner{pid: os.Getpid(), boot: bootID(), start: processStart(os.Getpid())}))
			serr := f.Sync()
			cerr := f.Close()
			if err := errors.Join(werr, serr, cerr); err != nil {
				return false, 0, err
			}
			fsyncDir(dir)
			return attempt > 0, previous, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return false, 0, err
		}
		text, _ := readText(file)
		owner, ok := parseLock(text)
		if ok && ownerAlive(owner) {
			return false, 0, &LockedError{Dir: dir, Pid: owner.pid}
		}
		previous = owner.pid
		_ = os.Remove(file)
	}
	return false, 0, fmt.Errorf("could not take the lock of spool %s", dir)
}

func releaseLock(dir string) {
	file := filepath.Join(dir, "LOCK")
	text, _ := readText(file)
	if o, ok := parseLock(text); ok && o.pid == os.Getpid() {
		_ = os.Remove(file)
	}
}

// ReadPublished is the `published` cursor (absent or malformed = 0).
func ReadPublished(dir string) int64 {
	text, ok := readText(filepath.Join(dir, "published"))
	if !ok {
		return 0
	}
	n, _ := ParsePublished(text)
	return n
}

// writePublished replaces the cursor atomically: write a temporary file, fsync, rename, fsync the
// directory (the fsyncs only when durable: spoolFiles.ts writePublished).
func writePublished(dir string, sequence int64, durable bool) error {
	tmp := filepath.Join(dir, fmt.Sprintf("published.tmp-%d", os.Getpid()))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(strconv.FormatInt(sequence, 10) + "\n")
	var serr error
	if durable {
		serr = f.Sync()
	}
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "published")); err != nil {
		return err
	}
	if durable {
		fsyncDir(dir)
	}
	return nil
}
