package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// SetKeyBudget sets the monthly budget in USD of the key with the given
// ID; 0 removes it. It applies on this instance at once and on the others
// within key_refresh_interval. An unknown ID gives ErrKeyNotFound.
func (s *Service) SetKeyBudget(ctx context.Context, id string, budgetUSD float64) (KeyInfo, error) {
	if budgetUSD < 0 || math.IsNaN(budgetUSD) || math.IsInf(budgetUSD, 0) {
		return KeyInfo{}, errors.New("setting budget: budget_usd must be a number of at least 0")
	}
	budget := sql.NullFloat64{Float64: budgetUSD, Valid: budgetUSD > 0}
	now := s.e.now().UTC().Round(time.Microsecond)
	if _, err := s.e.db.ExecContext(ctx, s.e.d.q(`UPDATE polygate_api_keys SET budget_usd = ?, updated_at = ?
		WHERE id = ?`), budget, now, id); err != nil {
		return KeyInfo{}, fmt.Errorf("setting budget: %v", err)
	}
	var row keyRow
	err := s.e.db.GetContext(ctx, &row, s.e.d.q("SELECT "+keyColumns+" FROM polygate_api_keys WHERE id = ?"), id)
	if errors.Is(err, sql.ErrNoRows) {
		return KeyInfo{}, ErrKeyNotFound
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("setting budget: %v", err)
	}
	if k, err := row.info(); err == nil {
		s.e.publish(k)
	}
	return s.keyInfo(&row), nil
}

// Budget is spend in USD against a limit.
type Budget struct {
	// Kind is "key" (the key's own budget_usd), "plan_month" or "plan_day"
	// (its plan's budget_per_month or budget_per_day).
	Kind string `json:"kind"`
	// Plan names the plan of plan budgets.
	Plan     string  `json:"plan,omitempty"`
	LimitUSD float64 `json:"limit_usd"`
	SpentUSD float64 `json:"spent_usd"`
}

// KeyUsage is a key with its spend this UTC day and month, and its
// budgets.
type KeyUsage struct {
	KeyInfo
	// SpentDayUSD is what the key spent this UTC day. It and the embedded
	// SpentMonthUSD are the larger of the stored records' total and what
	// this instance counts (which includes records not yet written, and
	// other instances' as of the last sync).
	SpentDayUSD float64 `json:"spent_day_usd"`
	// Budgets are the key's own budget and its plan's, when set.
	Budgets []Budget `json:"budgets"`
}

// KeysUsage lists every key, oldest first, with its spend and budgets.
func (s *Service) KeysUsage(ctx context.Context) ([]KeyUsage, error) {
	keys, err := s.Keys(ctx)
	if err != nil {
		return nil, err
	}
	now := s.e.now().UTC()
	w := windowsAt(now)
	dayStart := now.Truncate(24 * time.Hour)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	until := now.Add(time.Second)
	month, err := s.Usage(ctx, "key", monthStart, until)
	if err != nil {
		return nil, err
	}
	day, err := s.Usage(ctx, "key", dayStart, until)
	if err != nil {
		return nil, err
	}
	stored := func(rows []UsageRow) map[string]float64 {
		m := make(map[string]float64, len(rows))
		for _, r := range rows {
			m[r.Group] = r.CostUSD
		}
		return m
	}
	storedMonth, storedDay := stored(month), stored(day)
	out := make([]KeyUsage, len(keys))
	for i, k := range keys {
		liveDay, liveMonth := s.liveSpend("key:"+k.ID, w)
		k.SpentMonthUSD = max(k.SpentMonthUSD, liveMonth, storedMonth[k.ID])
		ku := KeyUsage{KeyInfo: k, SpentDayUSD: max(liveDay, storedDay[k.ID]), Budgets: []Budget{}}
		if k.BudgetUSD > 0 {
			ku.Budgets = append(ku.Budgets, Budget{Kind: "key", LimitUSD: k.BudgetUSD, SpentUSD: k.SpentMonthUSD})
		}
		plan := k.Plan
		if plan == "" {
			plan = s.defaultPlan
		}
		if p := s.plans[plan]; p != nil {
			if p.BudgetPerMonth > 0 {
				ku.Budgets = append(ku.Budgets, Budget{Kind: "plan_month", Plan: plan, LimitUSD: p.BudgetPerMonth, SpentUSD: k.SpentMonthUSD})
			}
			if p.BudgetPerDay > 0 {
				ku.Budgets = append(ku.Budgets, Budget{Kind: "plan_day", Plan: plan, LimitUSD: p.BudgetPerDay, SpentUSD: ku.SpentDayUSD})
			}
		}
		out[i] = ku
	}
	return out, nil
}

// liveSpend is what the limiter counts as settled spend of subject in the
// current UTC day and month.
func (s *Service) liveSpend(subjectID string, w windows) (day, month float64) {
	v, ok := s.e.lim.subjects.Load(subjectID)
	if !ok {
		return 0, 0
	}
	sub := v.(*subject)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.bucket(dayKind, w.day, false).settledOnly().cost, sub.bucket(monthKind, w.month, false).settledOnly().cost
}
