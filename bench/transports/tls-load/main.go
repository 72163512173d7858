// tls-load: the TLS handshake generator of `npm run bench:transports`. Go's crypto/tls client costs about a fifth
// of `openssl s_time`'s CPU per handshake (OpenSSL 3.0's client spends ~1.7 ms of CPU per handshake here), so one
// generator core can drive more handshakes than one broker core can serve: the figure is the server's.
//
// Every connection is a FULL handshake: no client session cache, so no resumption (a fresh X25519 key share each
// time). With -resume the client keeps a session cache: every handshake after the first resumes a session ticket
// (TLS 1.3 PSK with a fresh X25519 exchange: no certificate, no signature), counted as "resumed", never as full. The server certificate is not verified unless -ca is given (client-side work only; the server's work is
// the same either way). With -mqtt the client also sends an MQTT 3.1.1 CONNECT and waits for the CONNACK.
//
// Usage: tls-load -addr 127.0.0.1:8883 -seconds 3 -conns 16 -tls 1.3 [-ca ca.pem] [-mqtt] [-alpn mqtt]
// Prints one JSON line: {"ok":N,"failed":N,"resumed":N,"seconds":S,"cpu_s":C,"error":"first error"}.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MQTT 3.1.1 CONNECT: client id "", clean session, keepalive 30 s.
var connect = []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 0}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8883", "server address")
	seconds := flag.Float64("seconds", 3, "run time")
	conns := flag.Int("conns", 16, "handshakes in flight")
	version := flag.String("tls", "1.3", "1.3 or 1.2 (1.2: ECDHE-ECDSA-AES128-GCM-SHA256)")
	caFile := flag.String("ca", "", "verify the server certificate against this CA (default: not verified)")
	mqtt := flag.Bool("mqtt", false, "send an MQTT CONNECT and wait for the CONNACK after the handshake")
	alpn := flag.String("alpn", "", "ALPN protocol to offer")
	resume := flag.Bool("resume", false, "keep a client session cache: RESUMED handshakes (session tickets) after the first")
	flag.Parse()
	// Less GC work in the generator (a few MB of garbage per thousand handshakes; memory is not the constraint).
	debug.SetGCPercent(400)

	cfg := &tls.Config{ServerName: "localhost", InsecureSkipVerify: *caFile == ""}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.RootCAs = pool
	}
	if *resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	if *alpn != "" {
		cfg.NextProtos = []string{*alpn}
	}
	switch *version {
	case "1.3":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	case "1.2":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	default:
		fmt.Fprintln(os.Stderr, "-tls must be 1.3 or 1.2")
		os.Exit(2)
	}

	var ok, failed, resumed int64
	var firstErr atomic.Value
	cpu0 := cpuSeconds()
	start := time.Now()
	end := start.Add(time.Duration(*seconds * float64(time.Second)))
	one := func() error {
		raw, err := net.DialTimeout("tcp", *addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(5 * time.Second))
		c := tls.Client(raw, cfg)
		if err := c.Handshake(); err != nil {
			return err
		}
		if c.ConnectionState().DidResume {
			atomic.AddInt64(&resumed, 1)
		}
		if *mqtt {
			if _, err := c.Write(connect); err != nil {
				return err
			}
			ack := make([]byte, 4)
			if _, err := io.ReadFull(c, ack); err != nil {
				return err
			}
			if ack[0] != 0x20 || ack[3] != 0 {
				return fmt.Errorf("unexpected CONNACK % x", ack)
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if err := one(); err != nil {
					atomic.AddInt64(&failed, 1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					atomic.AddInt64(&ok, 1)
				}
			}
		}()
	}
	wg.Wait()
	out := map[string]any{
		"ok":      ok,
		"failed":  failed,
		"resumed": resumed,
		"seconds": time.Since(start).Seconds(),
		"cpu_s":   cpuSeconds() - cpu0,
	}
	if e := firstErr.Load(); e != nil {
		out["error"] = e
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
