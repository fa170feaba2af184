package responses

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// now is the clock behind created_at and completed_at; tests replace it.
var now = time.Now

// NewResponseID returns a new Response id: "resp_" and 48 random hex digits.
func NewResponseID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "resp_" + hex.EncodeToString(b[:])
}

// itemID returns the id of the output item at index of the response
// responseID: prefix ("msg_", "fc_", "rs_") and the response id's own digits.
// Ids derived this way are the same in a streamed and a non-streamed answer.
func itemID(prefix, responseID string, index int) string {
	suffix := strings.TrimPrefix(responseID, "resp_")
	return prefix + suffix + "_" + strconv.Itoa(index)
}

// callID returns a call_id for a tool call the hub left without an id.
func callID(responseID string, index int) string {
	return itemID("call_", responseID, index)
}
