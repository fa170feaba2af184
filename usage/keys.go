package usage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Virtual keys look like sk-pg- followed by 43 base62 characters (256
// bits). Only their SHA-256 is stored.
const (
	KeyPrefix  = "sk-pg-"
	keyBodyLen = 43
	base62     = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	// keyOverlap re-reads keys updated this long before the newest update
	// seen, covering clock skew between instances and late commits.
	keyOverlap = 30 * time.Second
	// keyFullReload is how often the whole key table is re-read.
	keyFullReload = 5 * time.Minute
)

// keyInfo is one key in the snapshot. It is never modified once
// published.
type keyInfo struct {
	id, name, plan, last4 string
	hash                  [32]byte
	caller                Caller
	budget                float64
	expiresAt, revokedAt  time.Time
	createdAt, updatedAt  time.Time
}

// keySnapshot is an immutable view of every key.
type keySnapshot struct {
	byHash     map[[32]byte]*keyInfo
	byID       map[string]*keyInfo
	maxUpdated time.Time
	fromDB     bool
}

// keyStore holds the snapshot. Authentication reads it without locks;
// refreshes replace it.
//
// Why a full snapshot and not a cache such as ristretto: a cache answers
// a miss by asking the database, so unknown keys (anyone can send a
// billion) would reach it and a slow database would delay requests; and
// cached entries would outlive revocations unless every instance were
// told. With every key in memory a lookup never waits, unknown keys never
// leave the process, and a revocation on any instance is seen everywhere
// within key_refresh_interval. A key costs a few hundred bytes.
type keyStore struct {
	snap     atomic.Pointer[keySnapshot]
	mu       sync.Mutex // serialises updates
	lastFull time.Time
}

type keyRow struct {
	ID        string          `db:"id" json:"id"`
	Name      string          `db:"name" json:"name"`
	Hash      string          `db:"hash" json:"hash"`
	Last4     string          `db:"last4" json:"last4"`
	Plan      string          `db:"plan" json:"plan"`
	BudgetUSD sql.NullFloat64 `db:"budget_usd" json:"-"`
	ExpiresAt sql.NullTime    `db:"expires_at" json:"-"`
	RevokedAt sql.NullTime    `db:"revoked_at" json:"-"`
	CreatedAt time.Time       `db:"created_at" json:"created_at"`
	UpdatedAt time.Time       `db:"updated_at" json:"updated_at"`
}

const keyColumns = "id, name, hash, last4, plan, budget_usd, expires_at, revoked_at, created_at, updated_at"

func (r *keyRow) info() (*keyInfo, error) {
	raw, err := hex.DecodeString(r.Hash)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("key %q: malformed hash", r.ID)
	}
	k := &keyInfo{
		id: r.ID, name: r.Name, plan: r.Plan, last4: r.Last4,
		createdAt: r.CreatedAt, updatedAt: r.UpdatedAt,
	}
	copy(k.hash[:], raw)
	if r.BudgetUSD.Valid {
		k.budget = r.BudgetUSD.Float64
	}
	if r.ExpiresAt.Valid {
		k.expiresAt = r.ExpiresAt.Time
	}
	if r.RevokedAt.Valid {
		k.revokedAt = r.RevokedAt.Time
	}
	k.caller = Caller{ID: "key:" + r.ID, KeyID: r.ID, Name: r.Name, Plan: r.Plan, BudgetUSD: k.budget}
	return k, nil
}

// Authenticate returns the caller owning the virtual key in an
// Authorization header value ("Bearer sk-pg-...") or the bare key. A
// missing, malformed, unknown, revoked or expired key gives ErrInvalidKey,
// all alike: the key is hashed whatever it is and looked up by hash in
// memory, so the answer never waits on the database and its timing says
// nothing about the stored keys.
func (s *Service) Authenticate(authorization string) (Caller, error) {
	tok := strings.TrimSpace(authorization)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	var buf [64]byte
	var sum [32]byte
	if len(tok) <= len(buf) {
		sum = sha256.Sum256(append(buf[:0], tok...))
	} else {
		sum = sha256.Sum256([]byte(tok))
	}
	wellFormed := validKeyFormat(tok)
	snap := s.e.keys.snap.Load()
	var k *keyInfo
	if snap != nil {
		k = snap.byHash[sum]
	}
	if !wellFormed || k == nil || !k.revokedAt.IsZero() ||
		(!k.expiresAt.IsZero() && !s.e.now().Before(k.expiresAt)) {
		return Caller{}, ErrInvalidKey
	}
	return k.caller, nil
}

func validKeyFormat(tok string) bool {
	if len(tok) != len(KeyPrefix)+keyBodyLen || tok[:len(KeyPrefix)] != KeyPrefix {
		return false
	}
	ok := true
	for i := len(KeyPrefix); i < len(tok); i++ {
		c := tok[i]
		ok = ok && (c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z')
	}
	return ok
}

// newKey returns a fresh virtual key.
func newKey() string {
	b := make([]byte, 0, len(KeyPrefix)+keyBodyLen)
	b = append(b, KeyPrefix...)
	var buf [64]byte
	for len(b) < cap(b) {
		_, _ = rand.Read(buf[:])
		for _, x := range buf {
			// 248 = 4*62: rejecting larger bytes keeps the choice uniform.
			if x < 248 && len(b) < cap(b) {
				b = append(b, base62[x%62])
			}
		}
	}
	return string(b)
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// keysTick refreshes the snapshot from the database.
func (e *engine) keysTick(ctx context.Context) {
	if !e.ready.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := e.refreshKeys(ctx, false); err != nil && ctx.Err() == nil {
		e.log().Debug("refreshing API keys", zap.String("database", e.t.name), zap.Error(err))
	}
}

// refreshKeys reads the keys changed since the last refresh (or all of
// them) and publishes a new snapshot if anything changed.
func (e *engine) refreshKeys(ctx context.Context, full bool) error {
	ks := &e.keys
	ks.mu.Lock()
	defer ks.mu.Unlock()
	cur := ks.snap.Load()
	full = full || cur == nil || !cur.fromDB || time.Since(ks.lastFull) > keyFullReload
	var rows []keyRow
	var err error
	if full {
		err = e.db.SelectContext(ctx, &rows, "SELECT "+keyColumns+" FROM polygate_api_keys")
	} else {
		err = e.db.SelectContext(ctx, &rows, e.d.q("SELECT "+keyColumns+" FROM polygate_api_keys WHERE updated_at >= ?"),
			cur.maxUpdated.Add(-keyOverlap).UTC())
	}
	if err != nil {
		return err
	}
	next := &keySnapshot{fromDB: true}
	if full {
		next.byHash = make(map[[32]byte]*keyInfo, len(rows))
		next.byID = make(map[string]*keyInfo, len(rows))
	} else {
		next.maxUpdated = cur.maxUpdated
		changed := false
		for i := range rows {
			old := cur.byID[rows[i].ID]
			if old == nil || !old.updatedAt.Equal(rows[i].UpdatedAt) {
				changed = true
				break
			}
		}
		if !changed {
			return nil
		}
		next.byHash = make(map[[32]byte]*keyInfo, len(cur.byHash)+len(rows))
		next.byID = make(map[string]*keyInfo, len(cur.byID)+len(rows))
		for h, k := range cur.byHash {
			next.byHash[h] = k
		}
		for id, k := range cur.byID {
			next.byID[id] = k
		}
	}
	for i := range rows {
		k, err := rows[i].info()
		if err != nil {
			e.log().Warn("skipping API key", zap.Error(err))
			continue
		}
		if old := next.byID[k.id]; old != nil {
			delete(next.byHash, old.hash)
		}
		next.byHash[k.hash] = k
		next.byID[k.id] = k
		if k.updatedAt.After(next.maxUpdated) {
			next.maxUpdated = k.updatedAt
		}
	}
	if full {
		ks.lastFull = time.Now()
	}
	ks.snap.Store(next)
	e.saveKeyCache(next)
	return nil
}

// publish adds or replaces one key in the snapshot right away, so the
// instance that changed it does not wait for a refresh.
func (e *engine) publish(k *keyInfo) {
	ks := &e.keys
	ks.mu.Lock()
	defer ks.mu.Unlock()
	cur := ks.snap.Load()
	next := &keySnapshot{byHash: map[[32]byte]*keyInfo{}, byID: map[string]*keyInfo{}}
	if cur != nil {
		next.maxUpdated, next.fromDB = cur.maxUpdated, cur.fromDB
		for h, v := range cur.byHash {
			next.byHash[h] = v
		}
		for id, v := range cur.byID {
			next.byID[id] = v
		}
	}
	if old := next.byID[k.id]; old != nil {
		delete(next.byHash, old.hash)
	}
	next.byHash[k.hash] = k
	next.byID[k.id] = k
	ks.snap.Store(next)
	e.saveKeyCache(next)
}

// The key cache file lets an instance that starts while the database is
// unreachable authenticate the keys it knew. It holds hashes only.
func (e *engine) keyCachePath() string {
	return filepath.Join(e.settings().spillDir, e.t.tag+"-keys.json")
}

type cachedKey struct {
	keyRow
	Budget    *float64   `json:"budget_usd,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func (e *engine) saveKeyCache(snap *keySnapshot) {
	list := make([]cachedKey, 0, len(snap.byID))
	for _, k := range snap.byID {
		c := cachedKey{keyRow: keyRow{ID: k.id, Name: k.name, Hash: hex.EncodeToString(k.hash[:]),
			Last4: k.last4, Plan: k.plan, CreatedAt: k.createdAt, UpdatedAt: k.updatedAt}}
		if k.budget > 0 {
			c.Budget = &k.budget
		}
		if !k.expiresAt.IsZero() {
			c.ExpiresAt = &k.expiresAt
		}
		if !k.revokedAt.IsZero() {
			c.RevokedAt = &k.revokedAt
		}
		list = append(list, c)
	}
	data, err := json.Marshal(list)
	if err == nil {
		err = writeFileAtomic(e.keyCachePath(), data)
	}
	if err != nil {
		e.log().Debug("saving API key cache", zap.Error(err))
	}
}

func (e *engine) loadKeyCache() {
	data, err := os.ReadFile(e.keyCachePath())
	if err != nil {
		return
	}
	var list []cachedKey
	if err := json.Unmarshal(data, &list); err != nil {
		e.log().Warn("ignoring unreadable API key cache", zap.String("file", e.keyCachePath()), zap.Error(err))
		return
	}
	snap := &keySnapshot{byHash: map[[32]byte]*keyInfo{}, byID: map[string]*keyInfo{}}
	for _, c := range list {
		row := c.keyRow
		if c.Budget != nil {
			row.BudgetUSD = sql.NullFloat64{Float64: *c.Budget, Valid: true}
		}
		if c.ExpiresAt != nil {
			row.ExpiresAt = sql.NullTime{Time: *c.ExpiresAt, Valid: true}
		}
		if c.RevokedAt != nil {
			row.RevokedAt = sql.NullTime{Time: *c.RevokedAt, Valid: true}
		}
		k, err := row.info()
		if err != nil {
			continue
		}
		snap.byHash[k.hash] = k
		snap.byID[k.id] = k
	}
	e.keys.snap.Store(snap)
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + "." + randomID(4) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// KeySpec describes a key to create.
type KeySpec struct {
	// Name labels the key in listings and reports. Required.
	Name string `json:"name"`
	// Plan is the key's plan. Default: the configuration's default plan.
	Plan string `json:"plan,omitempty"`
	// BudgetUSD caps the key's spend per UTC calendar month, on top of its
	// plan's limits. Default (0): no budget of its own.
	BudgetUSD float64 `json:"budget_usd,omitempty"`
	// ExpiresAt is when the key stops working. Default: never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// KeyInfo describes a key; it never holds the key or its hash.
type KeyInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Plan string `json:"plan"`
	// Hint shows the key's prefix and last four characters.
	Hint      string     `json:"hint"`
	BudgetUSD float64    `json:"budget_usd,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	// Status is "active", "revoked" or "expired".
	Status string `json:"status"`
	// SpentMonthUSD is what the key spent this UTC month, as this
	// instance knows it (exact for itself, as of the last sync for
	// others).
	SpentMonthUSD float64 `json:"spent_month_usd"`
}

func (s *Service) keyInfo(r *keyRow) KeyInfo {
	ki := KeyInfo{
		ID: r.ID, Name: r.Name, Plan: r.Plan, Hint: KeyPrefix + "..." + r.Last4,
		CreatedAt: r.CreatedAt.UTC(), Status: "active",
	}
	if r.BudgetUSD.Valid {
		ki.BudgetUSD = r.BudgetUSD.Float64
	}
	now := s.e.now()
	if r.ExpiresAt.Valid {
		t := r.ExpiresAt.Time.UTC()
		ki.ExpiresAt = &t
		if !now.Before(t) {
			ki.Status = "expired"
		}
	}
	if r.RevokedAt.Valid {
		t := r.RevokedAt.Time.UTC()
		ki.RevokedAt = &t
		ki.Status = "revoked"
	}
	w := windowsAt(now)
	if v, ok := s.e.lim.subjects.Load("key:" + r.ID); ok {
		sub := v.(*subject)
		sub.mu.Lock()
		ki.SpentMonthUSD = sub.bucket(monthKind, w.month, false).settledOnly().cost
		sub.mu.Unlock()
	}
	return ki
}

// CreateKey stores a new key and returns it with its description. The
// key itself is returned only here; it cannot be recovered later. The key
// works on this instance at once and on the others within
// key_refresh_interval.
func (s *Service) CreateKey(ctx context.Context, spec KeySpec) (KeyInfo, string, error) {
	spec.Name = strings.TrimSpace(spec.Name)
	switch {
	case spec.Name == "":
		return KeyInfo{}, "", errors.New("creating key: name is required")
	case len(spec.Name) > 200:
		return KeyInfo{}, "", errors.New("creating key: name is longer than 200 bytes")
	case spec.BudgetUSD < 0:
		return KeyInfo{}, "", errors.New("creating key: budget_usd must not be negative")
	case !spec.ExpiresAt.IsZero() && !spec.ExpiresAt.After(s.e.now()):
		return KeyInfo{}, "", errors.New("creating key: expires_at is in the past")
	}
	if spec.Plan != "" && len(s.plans) > 0 && s.plans[spec.Plan] == nil {
		return KeyInfo{}, "", fmt.Errorf("creating key: plan %q is not configured", spec.Plan)
	}
	key := newKey()
	now := s.e.now().UTC().Round(time.Microsecond)
	row := keyRow{
		ID: "key_" + randomBase62(16), Name: spec.Name, Hash: hashKey(key),
		Last4: key[len(key)-4:], Plan: spec.Plan, CreatedAt: now, UpdatedAt: now,
	}
	if spec.BudgetUSD > 0 {
		row.BudgetUSD = sql.NullFloat64{Float64: spec.BudgetUSD, Valid: true}
	}
	if !spec.ExpiresAt.IsZero() {
		row.ExpiresAt = sql.NullTime{Time: spec.ExpiresAt.UTC().Round(time.Microsecond), Valid: true}
	}
	_, err := s.e.db.ExecContext(ctx, s.e.d.q(`INSERT INTO polygate_api_keys
		(id, name, hash, last4, plan, budget_usd, expires_at, revoked_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`),
		row.ID, row.Name, row.Hash, row.Last4, row.Plan, row.BudgetUSD, row.ExpiresAt, row.CreatedAt, row.UpdatedAt)
	if err != nil {
		return KeyInfo{}, "", fmt.Errorf("creating key: %v", err)
	}
	if k, err := row.info(); err == nil {
		s.e.publish(k)
	}
	return s.keyInfo(&row), key, nil
}

// Keys lists every key, oldest first, from the database.
func (s *Service) Keys(ctx context.Context) ([]KeyInfo, error) {
	var rows []keyRow
	if err := s.e.db.SelectContext(ctx, &rows,
		"SELECT "+keyColumns+" FROM polygate_api_keys ORDER BY created_at, id"); err != nil {
		return nil, fmt.Errorf("listing keys: %v", err)
	}
	out := make([]KeyInfo, len(rows))
	for i := range rows {
		out[i] = s.keyInfo(&rows[i])
	}
	return out, nil
}

// RevokeKey revokes the key with the given ID. It stops working on this
// instance at once and on the others within key_refresh_interval.
// Revoking a revoked key changes nothing; an unknown ID gives
// ErrKeyNotFound.
func (s *Service) RevokeKey(ctx context.Context, id string) (KeyInfo, error) {
	now := s.e.now().UTC().Round(time.Microsecond)
	if _, err := s.e.db.ExecContext(ctx, s.e.d.q(`UPDATE polygate_api_keys SET revoked_at = ?, updated_at = ?
		WHERE id = ? AND revoked_at IS NULL`), now, now, id); err != nil {
		return KeyInfo{}, fmt.Errorf("revoking key: %v", err)
	}
	var row keyRow
	err := s.e.db.GetContext(ctx, &row, s.e.d.q("SELECT "+keyColumns+" FROM polygate_api_keys WHERE id = ?"), id)
	if errors.Is(err, sql.ErrNoRows) {
		return KeyInfo{}, ErrKeyNotFound
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("revoking key: %v", err)
	}
	if k, err := row.info(); err == nil {
		s.e.publish(k)
	}
	return s.keyInfo(&row), nil
}

func randomBase62(n int) string {
	b := make([]byte, 0, n)
	var buf [32]byte
	for len(b) < n {
		_, _ = rand.Read(buf[:])
		for _, x := range buf {
			if x < 248 && len(b) < n {
				b = append(b, base62[x%62])
			}
		}
	}
	return string(b)
}
