// A small Go service for the language examples: goroutines, timers, file I/O and a clean stop
// on SIGTERM. Built static (CGO_ENABLED=0): the Go runtime makes its own syscalls, no libc.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func health(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }

// work hashes in n goroutines at once and waits on a timer: the scheduler's threads, signals
// and heap growth.
func work(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 || n > 64 {
		n = 8
	}
	sums := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			data := make([]byte, 1<<20)
			for j := range data {
				data[j] = byte(i + j)
			}
			sum := sha256.Sum256(data)
			sums[i] = hex.EncodeToString(sum[:4])
		}(i)
	}
	wg.Wait()
	<-time.After(5 * time.Millisecond)
	fmt.Fprint(w, sums[0])
}

// file writes, syncs, reads back and removes a file under /data.
func file(w http.ResponseWriter, r *http.Request) {
	name := filepath.Base(r.URL.Query().Get("name"))
	if name == "." || name == "/" || name == "" {
		http.Error(w, "name?", http.StatusBadRequest)
		return
	}
	path := filepath.Join("/data", name)
	f, err := os.Create(path)
	if err == nil {
		_, err = f.WriteString("hello " + name)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
	}
	var back []byte
	if err == nil {
		back, err = os.ReadFile(path)
		os.Remove(path)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(back)
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", health)
	mux.HandleFunc("/work", work)
	mux.HandleFunc("/file", file)
	server := &http.Server{Addr: ":8080", Handler: mux}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		server.Shutdown(ctx)
	}()
	fmt.Println("listening on :8080")
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
