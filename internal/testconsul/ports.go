package testconsul

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
)

// agentPorts are the ports an agent listens on. DNS and gRPC are disabled,
// so these four are all it needs.
type agentPorts struct {
	http    int
	serfLAN int // TCP and UDP
	serfWAN int // TCP and UDP
	server  int
}

// maxPortProbes bounds the search for one free port; a loopback address
// with thousands of free ephemeral ports never needs more than a few.
const maxPortProbes = 100

var (
	handedOutMu sync.Mutex
	// handedOut holds every port given to an agent in this process. They
	// are never handed out again, so one test's Restart cannot lose its
	// ports to another test's Start while its agent is down.
	handedOut = map[string]bool{}
)

// pickPorts finds four distinct ports free on bindAddr. The kernel can still
// give a port away between now and the agent's bind; Start retries with new
// ports when that happens.
func pickPorts(bindAddr string) (agentPorts, error) {
	handedOutMu.Lock()
	defer handedOutMu.Unlock()

	// Hold every probe socket until all four ports are chosen so the kernel
	// cannot return the same port twice.
	var held []interface{ Close() error }
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	pick := func(udpToo bool) (int, error) {
		for range maxPortProbes {
			ln, err := net.Listen("tcp", net.JoinHostPort(bindAddr, "0"))
			if err != nil {
				return 0, err
			}
			held = append(held, ln)
			port := ln.Addr().(*net.TCPAddr).Port
			key := net.JoinHostPort(bindAddr, strconv.Itoa(port))
			if handedOut[key] {
				continue
			}
			if udpToo {
				pc, err := net.ListenPacket("udp", key)
				if err != nil {
					continue
				}
				held = append(held, pc)
			}
			handedOut[key] = true
			return port, nil
		}
		return 0, errors.New("no free port after many probes")
	}

	var p agentPorts
	for _, f := range []struct {
		dst    *int
		udpToo bool
	}{{&p.http, false}, {&p.serfLAN, true}, {&p.serfWAN, true}, {&p.server, false}} {
		port, err := pick(f.udpToo)
		if err != nil {
			return agentPorts{}, fmt.Errorf("testconsul: pick a free port on %s: %w", bindAddr, err)
		}
		*f.dst = port
	}
	return p, nil
}
