// Command bump sets the Guildhall image tag in the Kubernetes manifests and renames the
// migration Job after it, in one step (the Makefile's `make bump TAG=v0.1.1`):
//
//	go run ./tools/bump -tag v0.1.1 [-dir deploy/k8s]
//
// It prints each value it changed and touches nothing else in the files.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/guildhouse/guildhall/deploy"
)

func main() {
	tag := flag.String("tag", "", "new image tag, e.g. v0.1.1")
	dir := flag.String("dir", "deploy/k8s", "directory holding the numbered manifests")
	flag.Parse()
	if *tag == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: bump -tag vX.Y.Z [-dir deploy/k8s]")
		os.Exit(2)
	}
	old, err := deploy.CurrentTag(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bump:", err)
		os.Exit(1)
	}
	changes, err := deploy.Bump(*dir, *tag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bump:", err)
		os.Exit(1)
	}
	for _, c := range changes {
		fmt.Println(c)
	}
	if len(changes) == 0 {
		fmt.Printf("already at %s\n", *tag)
		return
	}
	fmt.Printf("bumped %s -> %s (%d values); next: commit, tag %s, push the tag, then DEPLOY-RUNBOOK.md phases 4-5\n", old, *tag, len(changes), *tag)
}
