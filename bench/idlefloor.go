package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The write(2)-only floor of the IDLE wake-up. A delivery to n idling
// connections cannot reach them faster than n write(2) calls of the
// EXISTS line reach a reader on this machine: on loopback each one also
// runs the receiving side's TCP input and wakes the reader, and the
// harness shares the CPUs with the server. The floor measures exactly
// that: a separate process (this binary, started with floorServerArg)
// holds n accepted sockets and, when told, writes the line to each from
// one goroutine per CPU with nothing else to do; waitForExists reads them
// as it reads a server's. Each IDLE round measures it right after the
// server, so the ratio of the two is taken in one machine state (on a
// shared virtual machine the floor itself moves by 2x within minutes).

// floorServerArg, as the first argument, makes this binary the floor's
// writer (main calls idleFloorServe).
const floorServerArg = "-idle-floor-server"

// floorLine is what the writer sends: what a server sends on a delivery.
var floorLine = []byte("* 1 EXISTS\r\n")

// idleFloorServe is the writer process: it prints its address, takes a
// control connection, then n connections, and writes floorLine to all n
// each time a line arrives on the control connection.
func idleFloorServe(n int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr())
	ctl, err := ln.Accept()
	if err != nil {
		return err
	}
	fds := make([]int, 0, n)
	for len(fds) < n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		defer c.Close()
		fd, err := connFD(c)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
	}
	workers := runtime.GOMAXPROCS(0)
	r := bufio.NewReader(ctl)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			return nil // the harness is done
		}
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(fds); i += workers {
					// A fresh socket's buffer takes 12 octets at once.
					if k, err := syscall.Write(fds[i], floorLine); err != nil || k != len(floorLine) {
						errs <- fmt.Errorf("write to connection %d: %d octets, %v", i, k, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
	}
}

// idleFloor starts the writer process with n connections and returns the
// 99th percentile of each of idleWakes wake-ups, measured as a server's.
func idleFloor(ctx context.Context, n int) ([]float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, floorServerArg, strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var addr string
	if _, err := fmt.Fscanln(out, &addr); err != nil {
		return nil, fmt.Errorf("reading the writer's address: %w", err)
	}
	ctl, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	idlers := make([]idler, 0, n)
	defer func() {
		for _, i := range idlers {
			i.c.Close()
		}
	}()
	for range n {
		// Generous: a lost SYN is sent again after 1 s, then 3 s.
		c, err := net.DialTimeout("tcp", addr, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("connection %d of %d: %w", len(idlers)+1, n, err)
		}
		idlers = append(idlers, idler{c, bufio.NewReaderSize(c, 16)})
	}
	socks, err := detachIdlers(idlers)
	if err != nil {
		return nil, err
	}
	defer socks.close()
	var p99s, cpus, harness []float64
	pids := []int{cmd.Process.Pid}
	for range idleWakes {
		var sent error
		cpu0, err := cpuTimes(pids)
		if err != nil {
			return nil, err
		}
		var cpu1 map[int]int64
		var cpuErr error
		lat, err := socks.wake(func() { _, sent = ctl.Write([]byte("go\n")) }, func() { cpu1, cpuErr = cpuTimes(pids) })
		if err != nil {
			return nil, err
		}
		if cpuErr != nil {
			return nil, cpuErr
		}
		cpus = append(cpus, cpuSpentMs(cpu0, cpu1))
		harness = append(harness, socks.cpuMs)
		if sent != nil {
			return nil, sent
		}
		if missed := countAtLeast(lat, idleWait); missed > 0 {
			return nil, fmt.Errorf("%d of %d connections got nothing", missed, n)
		}
		_, p99 := percentiles(lat)
		p99s = append(p99s, p99)
	}
	logf("  write(2)-only floor: writer CPU %s ms, harness CPU %s ms", joinMs(cpus), joinMs(harness))
	return p99s, nil
}
