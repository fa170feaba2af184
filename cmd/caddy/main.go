// Command caddy is Caddy with Caddy's standard modules plus the Polygate
// ai_gateway module, so `go run ./cmd/caddy run --config Caddyfile.example`
// works without xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/polygate/polygate"
)

func main() {
	caddycmd.Main()
}
