// The engine's own reading of a seccomp profile for a container with the given capabilities:
// moby's seccomp.LoadProfile (Debian's golang-github-docker-docker-dev), as dockerd calls it
// when it writes the container's OCI config. Prints the resulting LinuxSeccomp as JSON.
//
//	go run applied.go PROFILE CAP_A,CAP_B
//	go run applied.go -serve   (one request per stdin line: {"profile": TEXT, "caps": "A,B"};
//	                            one answer per stdout line: {"loaded": ...} or {"error": ...})
//
// The second form lets a test ask thousands of generated profiles of one process.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/docker/docker/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func load(body string, capList string) (*specs.LinuxSeccomp, error) {
	caps := []string{}
	if capList != "" {
		caps = strings.Split(capList, ",")
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps}}}
	return seccomp.LoadProfile(body, spec)
}

type request struct {
	Profile string `json:"profile"`
	Caps    string `json:"caps"`
}

type answer struct {
	Loaded *specs.LinuxSeccomp `json:"loaded"`
	Error  string              `json:"error,omitempty"`
}

func serve() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var ans answer
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			ans.Error = "bad request: " + err.Error()
		} else if loaded, err := load(req.Profile, req.Caps); err != nil {
			ans.Error = err.Error()
		} else {
			ans.Loaded = loaded
		}
		if err := out.Encode(ans); err != nil {
			os.Exit(1)
		}
	}
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-serve" {
		serve()
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: applied PROFILE CAPS | applied -serve")
		os.Exit(2)
	}
	body, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	loaded, err := load(string(body), os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(loaded); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
