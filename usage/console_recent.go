package usage

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MaxRecent is the most records [Service.Recent] returns.
const MaxRecent = 200

// RecentRequest is one stored record as the usage console shows it.
// Records hold no prompt or completion text.
type RecentRequest struct {
	RequestID string    `json:"request_id" db:"request_id"`
	Time      time.Time `json:"time" db:"ts"`
	Caller    string    `json:"caller" db:"caller"`
	KeyID     string    `json:"key_id,omitempty" db:"key_id"`
	// KeyName is the key's name, from this instance's key snapshot.
	KeyName string `json:"key_name,omitempty" db:"-"`
	Plan    string `json:"plan,omitempty" db:"plan"`
	// Endpoint is the API endpoint ("chat/completions", "embeddings", ...);
	// Origin is empty for a client's request, else who in the gateway made
	// the call on the caller's behalf.
	Endpoint      string `json:"endpoint,omitempty" db:"endpoint"`
	Origin        string `json:"origin,omitempty" db:"origin"`
	Model         string `json:"model" db:"model"`
	Provider      string `json:"provider" db:"provider"`
	UpstreamModel string `json:"upstream_model,omitempty" db:"upstream_model"`
	Status        int    `json:"status" db:"status"`
	LatencyMS     int64  `json:"latency_ms" db:"latency_ms"`
	TTFTMS        int64  `json:"ttft_ms" db:"ttft_ms"`
	Attempts      int    `json:"attempts" db:"attempts"`
	CacheHit      bool   `json:"cache_hit" db:"cache_hit"`
	Streamed      bool   `json:"streamed" db:"streamed"`
	InputTokens   int64  `json:"input_tokens" db:"input_tokens"`
	OutputTokens  int64  `json:"output_tokens" db:"output_tokens"`
	CachedTokens  int64  `json:"cached_tokens" db:"cached_tokens"`
	// CacheWriteTokens (of which CacheWrite1hTokens with a one-hour
	// lifetime) are part of InputTokens, ReasoningTokens of OutputTokens.
	CacheWriteTokens   int64   `json:"cache_write_tokens" db:"cache_write_tokens"`
	CacheWrite1hTokens int64   `json:"cache_write_1h_tokens" db:"cache_write_1h_tokens"`
	ReasoningTokens    int64   `json:"reasoning_tokens" db:"reasoning_tokens"`
	CostUSD            float64 `json:"cost_usd" db:"cost_usd"`
	// Guardrails are the verdicts of the guardrails that fired.
	Guardrails []GuardrailVerdict `json:"guardrails,omitempty" db:"-"`
	// GuardrailsRaw is the stored text, kept when it is not the JSON
	// the gateway writes.
	GuardrailsRaw string `json:"guardrails_text,omitempty" db:"guardrails"`
}

// GuardrailVerdict is one guardrail's verdict as stored in a record.
type GuardrailVerdict struct {
	Guardrail string `json:"guardrail"`
	// Action is "block", "redact" or "log".
	Action   string `json:"action"`
	Category string `json:"category"`
	// Stage is "input" or "output".
	Stage string `json:"stage"`
	// Location is where it was found, such as messages[2]; never the text.
	Location string `json:"location,omitempty"`
}

// Recent returns up to limit (at most MaxRecent) stored records with
// since <= time < until, newest first.
func (s *Service) Recent(ctx context.Context, since, until time.Time, limit int) ([]RecentRequest, error) {
	limit = max(1, min(limit, MaxRecent))
	q := `SELECT request_id, ts, caller, key_id, plan, endpoint, origin, model, provider, upstream_model, status,
		latency_ms, ttft_ms, attempts, cache_hit, streamed, input_tokens, output_tokens,
		cached_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, cost_usd, guardrails
		FROM polygate_usage u
		WHERE u.ts >= ? AND u.ts < ?
		ORDER BY u.ts DESC, u.request_id DESC
		LIMIT ` + fmt.Sprint(limit)
	var rows []RecentRequest
	if err := s.e.db.SelectContext(ctx, &rows, s.e.d.q(q), since.UTC(), until.UTC()); err != nil {
		return nil, fmt.Errorf("reading recent requests: %v", err)
	}
	snap := s.e.keys.snap.Load()
	for i := range rows {
		r := &rows[i]
		r.Time = r.Time.UTC()
		if snap != nil && r.KeyID != "" {
			if k := snap.byID[r.KeyID]; k != nil {
				r.KeyName = k.name
			}
		}
		if raw := strings.TrimSpace(r.GuardrailsRaw); strings.HasPrefix(raw, "[") {
			if json.Unmarshal([]byte(raw), &r.Guardrails) == nil {
				r.GuardrailsRaw = ""
			}
		}
	}
	return rows, nil
}
