package usage

import "strings"

// Metered reports whether the caller is limited in tokens or dollars: its
// plan has a tokens_per_minute, tokens_per_day, budget_per_day or
// budget_per_month limit, or its key has a budget of its own. Requests the
// gateway cannot account (a pass-through path whose cost it cannot read)
// would escape such limits, so the host refuses them to a metered caller
// unless [Service.Unmetered] allows the path. A caller whose plan is not
// configured counts as metered (Reserve refuses it anyway).
func (s *Service) Metered(c Caller) bool {
	if c.BudgetUSD > 0 {
		return true
	}
	p, lerr := s.planOf(c)
	if lerr != nil {
		return true
	}
	return p != nil && (p.TokensPerMinute > 0 || p.TokensPerDay > 0 || p.BudgetPerDay > 0 || p.BudgetPerMonth > 0)
}

// Unmetered reports whether the caller's plan lists path in its
// unmetered_paths: path is relative to the API's version prefix
// ("images/variations", "vector_stores/vs_1/files"; a leading slash is
// ignored), matched exactly or, for an entry ending in "*", by prefix.
func (s *Service) Unmetered(c Caller, path string) bool {
	p, lerr := s.planOf(c)
	if lerr != nil || p == nil {
		return false
	}
	return p.AllowsUnmetered(path)
}

// AllowsUnmetered reports whether path is in the plan's UnmeteredPaths
// (see [Service.Unmetered]).
func (p *Plan) AllowsUnmetered(path string) bool {
	if p == nil {
		return false
	}
	path = strings.TrimPrefix(path, "/")
	for _, u := range p.UnmeteredPaths {
		if prefix, ok := strings.CutSuffix(u, "*"); ok {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		} else if u == path {
			return true
		}
	}
	return false
}
