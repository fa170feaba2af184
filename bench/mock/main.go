// Command mock serves the mockllm OpenAI/Anthropic mock upstream standalone:
//
//	go run ./bench/mock -addr :9999 [-delay 0] [-events 18] [-hold]
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/polygate/polygate/bench/mockllm"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9999", "listen address")
	delay := flag.Duration("delay", 0, "delay between streamed events")
	events := flag.Int("events", 18, "content chunk events per streamed response (role and finish chunks come on top)")
	hold := flag.Bool("hold", false, "send the first streamed event, then hold the stream open until the client leaves")
	dims := flag.Int("dims", 1536, "embedding dimensions")
	flag.Parse()

	srv := mockllm.New(mockllm.Config{Events: *events, Delay: *delay, Hold: *hold, EmbeddingDims: *dims})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(os.Stderr, "mock: ", 0)}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		<-ch
		srv.Close()
		hs.Close()
	}()
	log.Printf("mock upstream listening on %s (hold=%v delay=%v)", ln.Addr(), *hold, *delay)
	if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
