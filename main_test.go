package polygate_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/polygate/polygate/internal/gatewaytest"
)

func TestMain(m *testing.M) { gatewaytest.Main(m) }

func readAllString(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
