package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/polygate/polygate/usage"
)

// maxBody bounds the JSON bodies of the key endpoints.
const maxBody = 64 << 10

// planInfo is a plan as the key form shows it.
type planInfo struct {
	Name           string  `json:"name"`
	BudgetPerDay   float64 `json:"budget_per_day,omitempty"`
	BudgetPerMonth float64 `json:"budget_per_month,omitempty"`
}

// keysResponse is the answer to GET api/keys.
type keysResponse struct {
	// AuthMode is the gateway's: keys are only checked in "keys" mode.
	AuthMode    string           `json:"auth_mode"`
	DefaultPlan string           `json:"default_plan"`
	Plans       []planInfo       `json:"plans"`
	Keys        []usage.KeyUsage `json:"keys"`
}

func (c *Console) handleKeys(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError {
	ctx, cancel := apiContext(r)
	defer cancel()
	keys, err := s.KeysUsage(ctx)
	if err != nil {
		return c.storeError(r, err)
	}
	if keys == nil {
		keys = []usage.KeyUsage{}
	}
	resp := keysResponse{AuthMode: s.AuthMode(), DefaultPlan: s.DefaultPlan(), Plans: []planInfo{}, Keys: keys}
	plans := s.Plans()
	for _, name := range s.PlanNames() {
		p := plans[name]
		resp.Plans = append(resp.Plans, planInfo{Name: name, BudgetPerDay: p.BudgetPerDay, BudgetPerMonth: p.BudgetPerMonth})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// decodeBody reads one JSON object with only known fields into v.
func decodeBody(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "reading the body: %v", err)
	}
	if len(body) > maxBody {
		return errorf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "decoding the body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "decoding the body: more than one JSON value")
	}
	return nil
}

// createKeyRequest is the body of POST api/keys.
type createKeyRequest struct {
	Name      string  `json:"name"`
	Plan      string  `json:"plan"`
	BudgetUSD float64 `json:"budget_usd"`
	// ExpiresAt is an RFC 3339 time or a YYYY-MM-DD date (the start of
	// that UTC day); empty means never.
	ExpiresAt string `json:"expires_at"`
}

// createdKey is the answer to POST api/keys: the only time the key is
// shown.
type createdKey struct {
	usage.KeyInfo
	Key string `json:"key"`
}

func (c *Console) handleCreateKey(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError {
	var req createKeyRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	spec := usage.KeySpec{Name: req.Name, Plan: req.Plan, BudgetUSD: req.BudgetUSD}
	if req.ExpiresAt != "" {
		t, err := usage.ParseTime(req.ExpiresAt, false)
		if err != nil {
			return errorf(http.StatusBadRequest, "expires_at: %v", err)
		}
		spec.ExpiresAt = t
	}
	if spec.Plan != "" && !slices.Contains(s.PlanNames(), spec.Plan) {
		// CreateKey takes any plan when none is configured; the console
		// offers only configured ones.
		return errorf(http.StatusBadRequest, "plan %q is not configured", spec.Plan)
	}
	if err := s.ValidateKeySpec(spec); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	info, key, err := s.CreateKey(ctx, spec)
	if err != nil {
		return c.storeError(r, err)
	}
	c.logger.Info("usage console: key created",
		zap.String("key_id", info.ID), zap.String("name", info.Name), zap.String("plan", info.Plan),
		zap.Float64("budget_usd", info.BudgetUSD), zap.String("by", who(r)))
	writeJSON(w, http.StatusCreated, createdKey{KeyInfo: info, Key: key})
	return nil
}

func (c *Console) handleRevokeKey(w http.ResponseWriter, r *http.Request, s *usage.Service, id string) *apiError {
	if err := checkKeyID(id); err != nil {
		return err
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	info, err := s.RevokeKey(ctx, id)
	if errors.Is(err, usage.ErrKeyNotFound) {
		return errorf(http.StatusNotFound, "key %q not found", id)
	}
	if err != nil {
		return c.storeError(r, err)
	}
	c.logger.Info("usage console: key revoked", zap.String("key_id", info.ID), zap.String("name", info.Name), zap.String("by", who(r)))
	writeJSON(w, http.StatusOK, info)
	return nil
}

// setBudgetRequest is the body of PATCH api/keys/{id}.
type setBudgetRequest struct {
	// BudgetUSD is the key's new monthly budget; 0 or null removes it.
	BudgetUSD json.RawMessage `json:"budget_usd"`
}

func (c *Console) handleSetBudget(w http.ResponseWriter, r *http.Request, s *usage.Service, id string) *apiError {
	if err := checkKeyID(id); err != nil {
		return err
	}
	var req setBudgetRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.BudgetUSD == nil {
		return errorf(http.StatusBadRequest, "budget_usd is required (a number; 0 or null removes the budget)")
	}
	var budget float64
	if string(req.BudgetUSD) != "null" {
		if err := json.Unmarshal(req.BudgetUSD, &budget); err != nil || budget < 0 {
			return errorf(http.StatusBadRequest, "budget_usd must be a number of at least 0")
		}
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	info, err := s.SetKeyBudget(ctx, id, budget)
	if errors.Is(err, usage.ErrKeyNotFound) {
		return errorf(http.StatusNotFound, "key %q not found", id)
	}
	if err != nil {
		return c.storeError(r, err)
	}
	c.logger.Info("usage console: key budget set", zap.String("key_id", info.ID), zap.String("name", info.Name),
		zap.Float64("budget_usd", budget), zap.String("by", who(r)))
	writeJSON(w, http.StatusOK, info)
	return nil
}

func checkKeyID(id string) *apiError {
	if id == "" || len(id) > 100 {
		return errorf(http.StatusNotFound, "no such key")
	}
	return nil
}

// who names the authenticated operator for the log: Caddy's
// {http.auth.user.id}, set by basic_auth and other authentication
// handlers.
func who(r *http.Request) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	return repl.ReplaceAll("{http.auth.user.id}", "")
}
