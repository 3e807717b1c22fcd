// The engine's own reading of a seccomp profile for a container with the given capabilities:
// moby's seccomp.LoadProfile (Debian's golang-github-docker-docker-dev), as dockerd calls it
// when it writes the container's OCI config. Prints the resulting LinuxSeccomp as JSON.
//
//	go run applied.go PROFILE CAP_A,CAP_B
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/docker/docker/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: applied PROFILE CAPS")
		os.Exit(2)
	}
	body, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	caps := []string{}
	if os.Args[2] != "" {
		caps = strings.Split(os.Args[2], ",")
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps}}}
	loaded, err := seccomp.LoadProfile(string(body), spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(loaded); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
