package chaos

import "github.com/uptrace/bun"

func bunList(ids []string) any { return bun.List(ids) }
