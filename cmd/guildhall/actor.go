package main

import "os/user"

// cliActor names who made a change from the command line in the custody chain:
// "cli:" and the operating-system user (the CLI authenticates nobody; the chain
// says which account ran it).
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:unknown"
}
