package handlers

import (
	"container/list"
	"context"
	"sync"

	"github.com/polygate/polygate/usage"
)

// StoredResponse is what the gateway keeps of a Responses API answer: for
// a translated provider the conversation (History, the hub messages up to
// and including the answer) and the Request and Response to answer GET
// /responses/{id} and its input_items; for a native one only which
// upstream made the id (Upstream, UpstreamModel), since the response
// lives there. It is the usage store's type.
type StoredResponse = usage.StoredResponse

// ResponseStore keeps Responses API state, scoped to the caller that made
// each response. Put must not wait for a database.
type ResponseStore interface {
	PutResponse(r StoredResponse)
	// GetResponse returns found false for an unknown or expired id, and
	// for another caller's, indistinguishably.
	GetResponse(ctx context.Context, id, callerID string) (r StoredResponse, found bool, err error)
	DeleteResponse(ctx context.Context, id, callerID string) (found bool, err error)
}

// MemoryResponses is a ResponseStore in memory, bounded in bytes: the
// oldest responses are forgotten first. It serves gateways without a
// usage database.
type MemoryResponses struct {
	// MaxBytes bounds what is kept; 0 means 64 MiB.
	MaxBytes int

	mu    sync.Mutex
	order *list.List // of *StoredResponse, oldest first
	byID  map[string]*list.Element
	size  int
}

func storedSize(r *StoredResponse) int {
	return len(r.ID) + len(r.CallerID) + len(r.Model) + len(r.Upstream) + len(r.UpstreamModel) +
		len(r.Request) + len(r.Response) + len(r.History) + 128
}

// PutResponse implements ResponseStore.
func (m *MemoryResponses) PutResponse(r StoredResponse) {
	max := m.MaxBytes
	if max <= 0 {
		max = 64 << 20
	}
	if storedSize(&r) > max {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID, m.order = make(map[string]*list.Element), list.New()
	}
	if e, ok := m.byID[r.ID]; ok {
		m.remove(e)
	}
	m.byID[r.ID] = m.order.PushBack(&r)
	m.size += storedSize(&r)
	for m.size > max {
		m.remove(m.order.Front())
	}
}

func (m *MemoryResponses) remove(e *list.Element) {
	r := m.order.Remove(e).(*StoredResponse)
	delete(m.byID, r.ID)
	m.size -= storedSize(r)
}

// GetResponse implements ResponseStore.
func (m *MemoryResponses) GetResponse(_ context.Context, id, callerID string) (StoredResponse, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byID[id]; ok {
		if r := e.Value.(*StoredResponse); r.CallerID == callerID {
			return *r, true, nil
		}
	}
	return StoredResponse{}, false, nil
}

// DeleteResponse implements ResponseStore.
func (m *MemoryResponses) DeleteResponse(_ context.Context, id, callerID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byID[id]; ok && e.Value.(*StoredResponse).CallerID == callerID {
		m.remove(e)
		return true, nil
	}
	return false, nil
}

var _ ResponseStore = (*MemoryResponses)(nil)
